"""The one place an error becomes a response: {"error": message, "details": [...]}."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from starlette.exceptions import HTTPException
from starlette.responses import Response

from rnn_serve.service.errors import InternalError, ServeError
from rnn_serve.service.http.responses import json_response

log = logging.getLogger(__name__)


def render(error: ServeError) -> Response:
    return _response(error.status_code, error.message, error.details, error.headers)


def _response(
    status: int, message: str, details: list[dict[str, Any]], headers: Mapping[str, str]
) -> Response:
    response = json_response({"error": message, "details": details}, status)
    response.headers.update(headers)
    return response


def install_fallbacks(app: FastAPI) -> None:
    """What reaches FastAPI itself (unknown paths, the docs' assets) answers in the same shape."""

    async def http_error(_: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        return _response(error.status_code, str(error.detail), [], error.headers or {})

    async def unexpected(request: Request, error: Exception) -> Response:
        request_id = request.scope.get("request_id")
        log.exception(
            "unhandled error on %s %s (request %s)", request.method, request.url.path, request_id
        )
        return render(InternalError(request_id))

    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
