"""One route table: the dispatcher serves it, the OpenAPI document describes it, and FastAPI
holds no route of its own that could never run."""

from __future__ import annotations

from fastapi.routing import APIRoute

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
