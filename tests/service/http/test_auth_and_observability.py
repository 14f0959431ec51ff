"""API keys, request ids, JSON logs, Prometheus metrics, and errors that leak nothing."""

from __future__ import annotations

import io
import json
import logging
import sys
import time
from datetime import datetime

import pytest

from rnn_serve.service.logs import AccessLog
from tests.support.models import SEED_BATCH
from tests.support.servers import make_client

PREDICT = "/v1/models/seed-demo/predict"


@pytest.fixture(scope="module")
def keyed(tmp_path_factory):
    key_file = tmp_path_factory.mktemp("keys") / "keys"
    key_file.write_text("# one key a line\nfrom-file\n")
    with make_client(api_keys="first, second", api_key_file=key_file) as client:
        yield client


@pytest.mark.parametrize("key", ["first", "second", "from-file"])
def test_any_configured_key_is_accepted(keyed, key):
    headers = {"Authorization": f"Bearer {key}"}
    assert keyed.post(PREDICT, json={"inputs": SEED_BATCH}, headers=headers).status_code == 200
    assert keyed.get("/v1/models", headers=headers).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Basic first"},
        {"Authorization": "first"},
    ],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", PREDICT),
        ("GET", "/v1/models"),
        ("POST", "/v2/models/co2/infer"),
        ("GET", "/metrics"),
    ],
)
def test_missing_or_wrong_keys_get_401_with_www_authenticate(keyed, headers, method, path):
    response = keyed.request(method, path, json={}, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="rnn-serve"'
    assert response.json()["error"].startswith("missing or invalid API key")


@pytest.mark.parametrize(
    "path", ["/v2/health/live", "/v2/health/ready", "/docs", "/redoc", "/openapi.json"]
)
def test_health_and_docs_stay_open(keyed, path):
    assert keyed.get(path).status_code == 200


@pytest.mark.parametrize(
    "path", ["/docsx", "/redocx", "/openapi.jsonx", "/v2/health/x", "/docs-assetsx"]
)
def test_open_paths_match_exactly(keyed, path):
    assert keyed.get(path).status_code == 401


def test_the_open_document_names_no_model_while_keys_are_on(keyed, client):
    assert "seed-demo" not in keyed.get("/openapi.json").text
    assert "seed-demo" in client.get("/openapi.json").text  # without keys, a list to pick from


def test_the_document_asks_for_a_bearer_key_where_the_server_does(keyed, client):
    """What the docs' Authorize button reads: a bearer scheme for every operation but the open
    ones, each of those with its 401; nothing of the kind without keys."""
    document = keyed.get("/openapi.json").json()
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert document["security"] == [{"bearer": []}]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            asks = operation.get("security") != []
            assert asks == (keyed.request(method, path).status_code == 401), (method, path)
            assert ("401" in operation["responses"]) == asks
    plain = client.get("/openapi.json").json()
    assert "security" not in plain and "securitySchemes" not in plain["components"]


def test_request_ids_are_echoed_or_made(client):
    given = client.post(PREDICT, json={"inputs": SEED_BATCH}, headers={"X-Request-ID": "abc.1"})
    assert given.headers["x-request-id"] == "abc.1"
    made = client.get("/v1/models")
    hostile = client.get("/v1/models", headers={"X-Request-ID": "bad id\\n" * 40})
    assert made.headers["x-request-id"] != hostile.headers["x-request-id"]
    assert "bad" not in hostile.headers["x-request-id"]


@pytest.mark.parametrize(
    ("method", "path", "status", "route"),
    [
        ("GET", "/v1/models", 200, "/v1/models"),  # the route table's
        ("POST", "/v1/models/nope/predict", 404, "/v1/models/{name}/predict"),
        ("DELETE", "/v1/models", 405, "other"),
        ("GET", "/nowhere", 404, "other"),  # FastAPI's
        ("GET", "/docs-assets/swagger-ui/swagger-ui.css", 200, "other"),
    ],
)
def test_every_answer_carries_its_id_once_and_is_counted(client, method, path, status, route):
    def counted() -> float:
        text = client.get("/metrics").text
        line = f'rnn_serve_requests_total{{model="{"unknown" if "nope" in path else ""}",'
        line += f'protocol="http",route="{route}",status="{status}"}} '
        found = [row for row in text.splitlines() if row.startswith(line)]
        return float(found[0].rpartition(" ")[2]) if found else 0.0

    before = counted()
    body = {"inputs": SEED_BATCH} if method == "POST" else None
    response = client.request(method, path, json=body, headers={"X-Request-ID": "every-1"})
    assert response.status_code == status
    assert response.headers.get_list("x-request-id") == ["every-1"]
    assert counted() == before + 1


def test_a_key_refusal_carries_its_id(keyed):
    response = keyed.get("/v1/models", headers={"X-Request-ID": "refused-1"})
    assert response.status_code == 401
    assert response.headers.get_list("x-request-id") == ["refused-1"]


def test_access_log_is_json_with_the_request_id(client, caplog):
    log, written = client.app.state.access_log, io.StringIO()
    log.flush()
    log.stream = written
    try:
        client.post(PREDICT, json={"inputs": SEED_BATCH})  # logged only from INFO on
        with caplog.at_level(logging.INFO, logger="rnn_serve.access"):
            headers = {"X-Request-ID": "trace-7"}
            client.post(PREDICT, json={"inputs": SEED_BATCH}, headers=headers)
        log.flush()
    finally:
        log.stream = None
    (line,) = [json.loads(line) for line in written.getvalue().splitlines()]
    assert time.time() - datetime.fromisoformat(line["ts"]).timestamp() < 60
    assert line | {"ts": "", "duration_ms": 0} == {
        "ts": "",
        "level": "info",
        "logger": "rnn_serve.access",
        "message": "request",
        "request_id": "trace-7",
        "method": "POST",
        "path": PREDICT,
        "route": "/v1/models/{name}/predict",
        "model": "seed-demo",
        "status": 200,
        "duration_ms": 0,
    }
    assert 0 < line["duration_ms"] < 60_000


def test_the_access_log_writes_what_it_holds_when_it_closes():
    written = io.StringIO()
    log = AccessLog(interval=3600, stream=written)
    log.start()
    log.request("r-1", "GET", "/v2/health/live", "/v2/health/live", "", 200, 0.001)
    log.close()  # long before the hour is up
    assert json.loads(written.getvalue())["request_id"] == "r-1"


def test_access_log_lines_escape_what_a_client_sent():
    """Each kind of request's fields are written once and reused: a path with quotes, a
    backslash and a character past ASCII still makes valid JSON, line by line."""
    written = io.StringIO()
    log = AccessLog(stream=written)
    odd = '/v1/models/"x\\y"/é'
    for seconds in (0.0012346, 0.25):
        log.request("r-2", "POST", odd, "other", "", 404, seconds)
    log.request("r-3", "GET", "/v2/health/live", "/v2/health/live", "", 200, 0)
    log.flush()
    lines = [json.loads(line) for line in written.getvalue().splitlines()]
    assert [(line["path"], line["status"], line["duration_ms"]) for line in lines] == [
        (odd, 404, 1.235),
        (odd, 404, 250.0),
        ("/v2/health/live", 200, 0.0),
    ]
    assert [line["request_id"] for line in lines] == ["r-2", "r-2", "r-3"]


def test_metrics_follow_prometheus_conventions(client):
    client.post(PREDICT, json={"inputs": SEED_BATCH})
    client.post("/v1/models/nope/predict", json={"inputs": SEED_BATCH})
    client.post(PREDICT, json={"inputs": SEED_BATCH, "sequence": {"id": "m", "start": True}})
    response = client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    for line in [
        'rnn_serve_requests_total{model="seed-demo",protocol="http",route="/v1/models/{name}/predict",status="200"}',
        'rnn_serve_requests_total{model="unknown",protocol="http",route="/v1/models/{name}/predict",status="404"}',
        'rnn_serve_request_duration_seconds_bucket{le="0.001",route="/v1/models/{name}/predict"}',
        'rnn_serve_inference_duration_seconds_count{model="seed-demo"}',
        'rnn_serve_batch_requests_bucket{le="1.0",model="seed-demo"}',
        'rnn_serve_queue_depth{model="seed-demo"} 0.0',
        "rnn_serve_inflight_requests 0.0",
        'rnn_serve_sequences{store="memory"}',
    ]:
        assert line in text, line


LEAKS = [
    "Traceback",
    'File "',
    "site-packages",
    ".py",
    sys.version.split()[0],
    "uvicorn",
    "starlette",
]


@pytest.fixture
def failing_once(client, monkeypatch):
    """seed-demo's ONNX Runtime session raises in the middle of its next call, then works."""
    model = client.app.state.engine.models.get("seed-demo").model
    real = model.predictor.session_for
    calls = {"failed": False}

    class FailingSession:
        def __init__(self, session):
            self.session = session

        def run(self, *args, **kwargs):
            if not calls["failed"]:
                calls["failed"] = True
                raise RuntimeError("secret detail at /opt/internal/path.py")
            return self.session.run(*args, **kwargs)

    monkeypatch.setattr(model.predictor, "session_for", lambda *shape: FailingSession(real(*shape)))
    return calls


def test_a_fault_inside_onnx_runtime_gets_a_500_with_the_request_id_and_nothing_else_breaks(
    client, failing_once
):
    response = client.post(PREDICT, json={"inputs": SEED_BATCH}, headers={"X-Request-ID": "f-1"})
    assert response.status_code == 500
    assert response.json() == {"error": "internal server error (request id f-1)", "details": []}
    assert response.headers["x-request-id"] == "f-1"
    assert failing_once["failed"]
    for _ in range(3):  # the next requests, on this model and on the others, succeed
        assert client.post(PREDICT, json={"inputs": SEED_BATCH}).status_code == 200
    forecast = client.post("/v1/models/co2/forecast", json={"series": [1.0] * 105, "horizon": 2})
    assert forecast.status_code == 200


@pytest.mark.parametrize(
    "raw",
    [b"{", b'{"inputs": "x"}', b'{"inputs": [[[1,2]]]}', b'{"inputs": [[[NaN,1,2]]]}', b"\xff"],
)
def test_error_bodies_hold_no_traces_paths_or_versions(client, raw):
    response = client.post(PREDICT, content=raw)
    assert 400 <= response.status_code < 500
    assert not [leak for leak in LEAKS if leak in response.text]
