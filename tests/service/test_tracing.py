"""OpenTelemetry traces (service/tracing.py), with the SDK's in-memory exporter: off unless
asked; on, one server span per request under the client's traceparent, named by its route,
with a child span for each stage its time went to. A real server exporting to a real OTLP/HTTP
receiver: tests/live/test_tracing_otlp.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from rnn_serve.service import tracing
from tests.support.models import SEED_BATCH
from tests.support.servers import make_client

TRACE_ID, PARENT = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
TRACEPARENT = {"traceparent": f"00-{TRACE_ID}-{PARENT}-01"}
PREDICT = "/v1/models/seed-demo/predict"


@pytest.fixture(scope="module")
def exporter() -> Iterator[InMemorySpanExporter]:
    """The SDK as a process would configure it itself (the global provider, set once)."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    found = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(found))
    yield found
    found.shutdown()


def of_trace(exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    return {
        span.name: span
        for span in exporter.get_finished_spans()
        if f"{span.context.trace_id:032x}" == TRACE_ID
    }


def children(spans: dict[str, ReadableSpan], parent: ReadableSpan) -> set[str]:
    own = parent.context.span_id
    return {name for name, s in spans.items() if s.parent and s.parent.span_id == own}


@pytest.mark.parametrize(
    ("env", "wanted"),
    [
        ({}, False),
        ({"OTEL_SERVICE_NAME": "rnn-serve"}, False),  # names it, asks for nothing
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"}, False),
    ],
)
def test_the_standard_variables_turn_traces_on(env, wanted):
    assert tracing.requested(env) is wanted


def test_off_by_default_no_span_even_with_a_provider_configured(exporter):
    exporter.clear()
    with make_client() as client:
        assert client.post(PREDICT, json={"inputs": SEED_BATCH}, headers=TRACEPARENT).is_success
    assert tracing.ON is False
    assert exporter.get_finished_spans() == ()


def test_a_prediction_is_a_server_span_under_the_clients_trace_with_its_stages(exporter):
    exporter.clear()
    with make_client(otel=True) as client:
        answer = client.post(PREDICT, json={"inputs": SEED_BATCH}, headers=TRACEPARENT)
    assert answer.status_code == 200
    spans = of_trace(exporter)
    server = spans["POST /v1/models/{name}/predict"]
    assert server.kind == trace.SpanKind.SERVER
    assert server.parent is not None and f"{server.parent.span_id:016x}" == PARENT
    assert server.attributes["http.route"] == "/v1/models/{name}/predict"
    assert children(spans, server) == {"admission", "batch wait", "inference"}
    wait, inference = spans["batch wait"], spans["inference"]
    assert wait.end_time == inference.start_time <= inference.end_time <= server.end_time
    assert inference.attributes["rnn_serve.device"] == "cpu"
    assert inference.attributes["rnn_serve.batch_requests"] >= 1
    assert (inference.attributes["rnn_serve.rows"], inference.attributes["rnn_serve.steps"]) == (
        6,
        5,
    )


def test_a_forecast_and_a_sequences_store_calls_have_spans(exporter):
    exporter.clear()
    first = {"inputs": SEED_BATCH, "sequence": {"id": "traced", "start": True}}
    step = {"inputs": SEED_BATCH, "sequence": {"id": "traced"}}
    forecast = {"series": [[float(i % 52) for i in range(200)]], "horizon": 4}
    with make_client(otel=True) as client:
        for body in (first, step):
            assert client.post(PREDICT, json=body, headers=TRACEPARENT).status_code == 200
        found = client.post("/v1/models/co2/forecast", json=forecast, headers=TRACEPARENT)
    assert found.status_code == 200
    names = [span.name for span in exporter.get_finished_spans()]
    assert names.count("sequence store write") == 2
    assert names.count("sequence store get") == 1  # a start without a key reads nothing
    rollout = of_trace(exporter)["forecast"]
    assert rollout.attributes["rnn_serve.horizon"] == 4
    assert rollout.attributes["rnn_serve.rows"] == 1


def test_probes_and_scrapes_are_not_traced(exporter):
    exporter.clear()
    with make_client(otel=True) as client:
        for path in ("/v2/health/ready", "/metrics", "/v1/models"):
            assert client.get(path, headers=TRACEPARENT).status_code == 200
    assert list(of_trace(exporter)) == ["GET /v1/models"]


def test_an_error_is_recorded_on_the_server_span(exporter):
    exporter.clear()
    with make_client(otel=True) as client:
        bad = client.post(PREDICT, json={"inputs": "no"}, headers=TRACEPARENT)
    assert bad.status_code == 422
    server = of_trace(exporter)["POST /v1/models/{name}/predict"]
    assert server.attributes["http.response.status_code"] == 422


def test_a_large_body_is_parsed_and_answered_in_worker_processes_under_spans(exporter):
    exporter.clear()
    large = {"inputs": [[[0.5, -0.25, 1.0]] * 400] * 64}  # past the inline bounds of body.py
    with make_client(otel=True) as client:
        answer = client.post(PREDICT, json=large, headers=TRACEPARENT)
    assert answer.status_code == 200
    spans = of_trace(exporter)
    server = spans["POST /v1/models/{name}/predict"]
    workers = {"parse body in a worker process", "write answer in a worker process"}
    assert workers <= children(spans, server)
    assert spans["parse body in a worker process"].attributes["rnn_serve.bytes"] > 256 << 10
