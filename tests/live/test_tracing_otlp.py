"""Traces from a real server to a real OTLP/HTTP receiver, turned on by nothing but the standard
OTEL_* variables: the receiver decodes what the exporter posts (protobuf, at /v1/traces) and
finds the request's spans under the client's trace, with the service's name."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.support.models import SEED_BATCH
from tests.support.servers import Server

TRACE_ID, PARENT = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"


class Receiver(ThreadingHTTPServer):
    """An OTLP/HTTP endpoint: every span posted to /v1/traces, with its service's name."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, str, str, str, str]] = []  # service, trace, id, parent, name
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        ok = self.path == "/v1/traces" and self.headers["content-type"] == "application/x-protobuf"
        if ok:
            request = ExportTraceServiceRequest.FromString(body)
            for resource in request.resource_spans:
                names = {a.key: a.value.string_value for a in resource.resource.attributes}
                for scope in resource.scope_spans:
                    self.server.spans += [
                        (
                            names.get("service.name", ""),
                            s.trace_id.hex(),
                            s.span_id.hex(),
                            s.parent_span_id.hex(),
                            s.name,
                        )
                        for s in scope.spans
                    ]
        self.send_response(200 if ok else 404)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    thread = threading.Thread(target=running.serve_forever, daemon=True)
    thread.start()
    yield running
    running.shutdown()


def test_the_otel_variables_send_a_requests_spans_to_an_otlp_receiver(receiver):
    endpoint = f"http://127.0.0.1:{receiver.server_address[1]}"
    env = os.environ | {
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_SERVICE_NAME": "rnn-serve-under-test",
        "OTEL_BSP_SCHEDULE_DELAY": "100",  # ms: export soon after the spans end
    }
    headers = {"traceparent": f"00-{TRACE_ID}-{PARENT}-01"}
    with Server(env) as server:
        answer = httpx.post(
            f"{server.url}/v1/models/seed-demo/predict",
            json={"inputs": SEED_BATCH},
            headers=headers,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(ours(receiver)) < 4:
            time.sleep(0.1)
    assert answer.status_code == 200
    spans = ours(receiver)
    by_name = {name: (span_id, parent) for _, _, span_id, parent, name in spans}
    route = "POST /v1/models/{name}/predict"
    assert set(by_name) == {route, "admission", "batch wait", "inference"}
    assert by_name[route][1] == PARENT
    assert all(
        parent == by_name[route][0] for name, (_, parent) in by_name.items() if name != route
    )
    assert {service for service, *_ in spans} == {"rnn-serve-under-test"}


@pytest.mark.parametrize("off", [{"OTEL_SDK_DISABLED": "true"}, {"OTEL_TRACES_EXPORTER": "none"}])
def test_the_standard_switches_keep_an_endpoint_from_being_used(receiver, off):
    endpoint = f"http://127.0.0.1:{receiver.server_address[1]}"
    env = os.environ | {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_BSP_SCHEDULE_DELAY": "100"}
    with Server(env | off) as server:
        url = f"{server.url}/v1/models/seed-demo/predict"
        httpx.post(
            url, json={"inputs": SEED_BATCH}, headers={"traceparent": f"00-{TRACE_ID}-{PARENT}-01"}
        )
        time.sleep(1)
    assert receiver.spans == []


def ours(receiver: Receiver) -> list[tuple[str, str, str, str, str]]:
    return [span for span in receiver.spans if span[1] == TRACE_ID]
