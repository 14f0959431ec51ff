"""Liveness and readiness, in the Open Inference Protocol's paths."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from service.api.responses import json_response

router = APIRouter(prefix="/v2/health", tags=["health"])


@router.get("/live", summary="The process is up")
async def live() -> Response:
    return json_response({"live": True})


@router.get("/ready", summary="Every model is loaded and has run a warm-up inference")
async def ready(request: Request) -> Response:
    is_ready = bool(getattr(request.app.state, "ready", False))
    return json_response({"ready": is_ready}, status_code=200 if is_ready else 503)
