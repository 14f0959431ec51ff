"""One route table: the dispatcher serves it, the OpenAPI document describes it, and FastAPI
holds no route of its own that could never run."""

from __future__ import annotations

from fastapi.routing import APIRoute

from rnn_serve.service.http import dispatch
from rnn_serve.service.http.route_table import ROUTES


def test_the_document_describes_exactly_the_documented_routes(client):
    paths = client.get("/openapi.json").json()["paths"]
    described = {(method.upper(), path) for path, ops in paths.items() for method in ops}
    assert described == {(r.method, r.path) for r in ROUTES if r.documented}


def test_fastapi_holds_no_route_of_the_table(client):
    assert not [route for route in client.app.routes if isinstance(route, APIRoute)]


def test_every_route_is_served_by_the_dispatcher(client):
    for route in ROUTES:
        if route.method == "GET":
            path = route.path.format(name="seed-demo", version="1")
            response = client.get(path)
            assert response.status_code == 200, (path, response.text)
            assert client.get("/metrics").text.count(f'route="{route.path}"') >= 1


def test_a_known_path_with_another_method_gets_405_naming_the_allowed_one(client):
    response = client.delete("/v1/models/seed-demo/predict")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json()["error"] == (
        "method DELETE is not allowed on /v1/models/seed-demo/predict; use POST"
    )


def test_remembered_routes_stay_few_and_each_request_gets_its_own_parameters(client, monkeypatch):
    """The dispatcher remembers the routes of the paths it served, up to MATCHED_PATHS: any
    number of paths (a client may name any model) cannot grow it past that."""
    monkeypatch.setattr(dispatch, "MATCHED_PATHS", 4)
    stack = client.app.middleware_stack
    for index in range(10):
        refused = client.get(f"/v1/models/nothing-{index}")
        assert refused.status_code == 404
        assert f"'nothing-{index}'" in refused.json()["error"]
        assert len(stack.matched) <= 4
    first = client.get("/v1/models/seed-demo").json()
    assert client.get("/v1/models/seed-demo").json()["name"] == first["name"] == "seed-demo"
    route, params = stack.matched[("GET", "/v1/models/seed-demo")]
    assert route.path == "/v1/models/{name}" and params == {"name": "seed-demo"}
