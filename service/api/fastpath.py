"""The hot routes served straight from ASGI, with the same handlers as the FastAPI routes.

FastAPI's routing, dependency injection and exception middleware cost more per request than
a small inference does. This middleware answers the data-plane POSTs itself and passes every
other request (metadata, health, docs, other methods) on to FastAPI untouched.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from service.api import v1, v2
from service.api.body import read_limited
from service.api.deps import dataplane_of
from service.api.responses import error_response
from service.errors import ServeError

log = logging.getLogger(__name__)
Handler = Callable[..., Awaitable[Response]]
NAME, VERSION = r"(?P<name>[^/]+)", r"(?:/versions/(?P<version>[^/]+))?"
ROUTES: list[tuple[re.Pattern[str], str, Handler]] = [
    (re.compile(f"/v1/models/{NAME}/predict"), "/v1/models/{name}/predict", v1.handle_predict),
    (re.compile(f"/v1/models/{NAME}/forecast"), "/v1/models/{name}/forecast", v1.handle_forecast),
    (re.compile(f"/v2/models/{NAME}{VERSION}/infer"), "/v2/models/{name}/infer", v2.handle_infer),
]


class FastPath:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            for pattern, template, handler in ROUTES:
                match = pattern.fullmatch(scope["path"])
                if match:
                    scope["route_template"], scope["path_params"] = template, match.groupdict()
                    response = await self._serve(scope, receive, handler, match.groupdict())
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)

    async def _serve(
        self, scope: Scope, receive: Receive, handler: Handler, params: dict[str, Any]
    ) -> Response:
        try:
            dataplane = dataplane_of(scope["app"])
            limit = dataplane.settings.max_body_bytes
            body = await read_limited(_chunks(receive), Headers(scope=scope), limit)
            return await handler(dataplane, body, **params)
        except ServeError as error:
            return error_response(error.status_code, error.message, error.details, error.headers)
        except ClientDisconnect:
            return Response(status_code=499)  # nobody is left to read it
        except Exception:
            log.exception("unhandled error on POST %s", scope["path"])
            return error_response(500, "internal server error")


async def _chunks(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return
