"""Serves the route table straight from ASGI.

FastAPI's routing, dependency injection and exception middleware cost more per request than a
small inference does. This layer matches the table's routes itself, reads a POST's body under
the size limit, and turns every error into the one error shape. Anything else (the docs'
assets, unknown paths) goes on to FastAPI.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable
from typing import Any

from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from service.errors import InternalError, MethodNotAllowed, ServeError
from service.http.body import read_limited
from service.http.errors import render
from service.http.routing import Call, Route

log = logging.getLogger(__name__)


class Dispatcher:
    def __init__(self, app: ASGIApp, routes: Iterable[Route], state: Any, max_body: int) -> None:
        self.app = app
        self.routes: dict[str, list[Route]] = {}
        for route in routes:
            self.routes.setdefault(route.method, []).append(route)
        self.state = state
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, method = scope["path"], scope["method"]
        for route in self.routes.get(method, ()):
            match = route.pattern.fullmatch(path)
            if match is not None:
                scope["route_template"], scope["path_params"] = route.path, match.groupdict()
                response = await self._serve(route, scope, receive)
                await response(scope, receive, send)
                return
        allowed = self._methods_for(path)
        if not allowed:
            await self.app(scope, receive, send)
            return
        error = MethodNotAllowed(
            f"method {method} is not allowed on {path}; use {', '.join(allowed)}",
            headers={"Allow": ", ".join(allowed)},
        )
        await render(error)(scope, receive, send)

    def _methods_for(self, path: str) -> list[str]:
        return sorted(
            method
            for method, routes in self.routes.items()
            if any(route.pattern.fullmatch(path) for route in routes)
        )

    async def _serve(self, route: Route, scope: Scope, receive: Receive) -> Response:
        try:
            headers = Headers(scope=scope)
            body = b""
            if route.method == "POST":
                body = await read_limited(_chunks(receive), headers, self.max_body)
            return await route.handler(Call(self.state, scope["path_params"], headers, body))
        except ServeError as error:
            return render(error)
        except ClientDisconnect:
            return Response(status_code=499)  # nobody is left to read it
        except Exception:
            log.exception("unhandled error on %s %s", route.method, scope["path"])
            return render(InternalError())


async def _chunks(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return
