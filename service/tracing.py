"""OpenTelemetry traces: off unless the operator asks for them.

They are turned on by the standard variables: an OTLP endpoint for traces
(``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, or ``OTEL_EXPORTER_OTLP_ENDPOINT`` with
``/v1/traces`` appended), unless ``OTEL_SDK_DISABLED=true`` or ``OTEL_TRACES_EXPORTER=none``.
FastAPI then exports them over OTLP/HTTP (the ``otel`` extra). ``RNN_SERVE_OTEL=true`` turns
them on for providers the process configured itself (``opentelemetry-instrument``, say).

FastAPI's telemetry makes one server span per request, continuing the client's W3C
``traceparent``. The service names that span by its route, and adds child spans where the
request's time goes:

- admission;
- parsing a large body, or writing a large answer, in a worker process;
- the wait for a batch;
- the inference, with its device and batch size;
- a forecast's roll-out;
- the sequence store's calls.

Off, each of these hooks costs a check of ``ON``; on, a request its sampler left out
(``OTEL_TRACES_SAMPLER``) gets no child spans either.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any, TypeVar

T = TypeVar("T")
# Probes and scrapes, every few seconds from every replica: no trace of them.
UNTRACED = frozenset({"/v2/health/live", "/v2/health/ready", "/metrics"})
ON = False
_OFF: AbstractContextManager[None] = nullcontext()
_tracer: Any = None
_current: Any = None  # opentelemetry.trace.get_current_span, once tracing is on


def requested(env: Mapping[str, str] = os.environ) -> bool:
    """Whether the standard variables ask for traces exported over OTLP."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if env.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() == "none":
        return False
    endpoints = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
    return any(env.get(name) for name in endpoints)


def configure(explicit: bool) -> dict[str, Any]:
    """FastAPI's telemetry settings for this process, with the hooks below turned on or off:
    traces only (the metrics are Prometheus', at /metrics), exported from the environment's
    settings when those asked for them."""
    global ON, _tracer, _current
    from_environment = requested()
    ON = explicit or from_environment
    if not ON:
        return {"tracing": False, "metrics": False, "logs": False}
    from opentelemetry import trace

    _tracer = trace.get_tracer("rnn_serve")  # follows the provider FastAPI sets at start-up
    _current = trace.get_current_span
    return {
        "tracing": True,
        "metrics": False,
        "logs": False,
        "operation_spans": False,  # its own spans of routing and serialisation: ours instead
        "auto_configure": from_environment,
        "exclude": lambda scope: scope.get("path") in UNTRACED,
    }


def span(name: str, **attributes: Any) -> AbstractContextManager[Any]:
    """A child span of the current one around a block (nothing while tracing is off)."""
    if not ON or not _current().is_recording():
        return _OFF
    found: AbstractContextManager[Any] = _tracer.start_as_current_span(
        name, attributes=_attributes(attributes)
    )
    return found


async def around(awaitable: Awaitable[T], name: str, **attributes: Any) -> T:
    """``awaitable`` in a child span of the current one (wrap it only while ``ON``)."""
    with span(name, **attributes):
        return await awaitable


def record(name: str, start_ns: int, end_ns: int, **attributes: Any) -> None:
    """A child span of the current one that already happened: the batch a request waited
    for and ran in, timed by the batcher's task."""
    if ON and _current().is_recording():
        started = _tracer.start_span(name, start_time=start_ns, attributes=_attributes(attributes))
        started.end(end_time=end_ns)


def name_request(method: str, route: str) -> None:
    """The server span takes the route's template as its name, as the conventions ask (called
    while ``ON``)."""
    current = _current()
    current.update_name(f"{method} {route}")
    current.set_attribute("http.route", route)


def now_ns() -> int:
    return time.time_ns() if ON else 0


def _attributes(given: dict[str, Any]) -> dict[str, Any]:
    return {f"rnn_serve.{key}": value for key, value in given.items() if value is not None}
