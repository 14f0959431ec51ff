"""Liveness and readiness (in the Open Inference Protocol's paths), and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from service.api.deps import dataplane_of
from service.api.responses import json_response

router = APIRouter(prefix="/v2/health", tags=["health"])


@router.get("/live", summary="The process is up")
async def live() -> Response:
    return json_response({"live": True})


@router.get("/ready", summary="Every model is loaded and has run a warm-up inference")
async def ready(request: Request) -> Response:
    is_ready = bool(getattr(request.app.state, "ready", False))
    return json_response({"ready": is_ready}, status_code=200 if is_ready else 503)


metrics_router = APIRouter(tags=["metrics"])


@metrics_router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    dataplane = dataplane_of(request.app)
    dataplane.refresh_gauges()
    sequences = await dataplane.sequences.describe()
    dataplane.metrics.sequences.labels(sequences["store"]).set(sequences["live"])
    return Response(dataplane.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
