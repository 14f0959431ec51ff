"""The one error handler family: every error leaves as {"error": ..., "details": [...]}."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from service.api.responses import error_response
from service.errors import ServeError

log = logging.getLogger(__name__)


async def _serve_error(_: Request, error: Exception) -> Response:
    assert isinstance(error, ServeError)
    return error_response(error.status_code, error.message, error.details, error.headers)


async def _http_error(_: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    return error_response(error.status_code, str(error.detail), headers=error.headers)


async def _request_validation(_: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    details = [
        {"loc": list(item["loc"]), "msg": item["msg"], "type": item["type"]}
        for item in error.errors()
    ]
    return error_response(422, details[0]["msg"] if details else "invalid request", details)


async def _unexpected(request: Request, error: Exception) -> Response:
    # Logged in full here; the client gets no trace, path or version.
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "internal server error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ServeError, _serve_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(Exception, _unexpected)
