"""Liveness and readiness (in the Open Inference Protocol's paths), and Prometheus metrics."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.responses import Response

from rnn_serve.service.http.responses import json_response
from rnn_serve.service.http.routing import Call


async def live(call: Call) -> Response:
    return json_response({"live": True})


async def ready(call: Call) -> Response:
    is_ready = bool(getattr(call.state, "ready", False))
    return json_response({"ready": is_ready}, status_code=200 if is_ready else 503)


async def metrics(call: Call) -> Response:
    """Always answers while the process runs: a store outage shows as a gauge, not a 500."""
    return Response(await call.engine.exposition(), media_type=CONTENT_TYPE_LATEST)
