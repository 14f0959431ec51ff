"""Serves the route table straight from ASGI.

FastAPI's routing, dependency injection and exception middleware cost more per request than a
small inference does. This layer matches the table's routes itself, reads a POST's body under
the size limit, and turns every error into the one error shape. Anything else (the docs'
assets, unknown paths) goes on to FastAPI.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rnn_serve.service.engine import Admitted, Engine
from rnn_serve.service.errors import (
    InternalError,
    MethodNotAllowed,
    Overloaded,
    PayloadTooLarge,
    ServeError,
)
from rnn_serve.service.http.body import content_encoding, declared_length, decoded
from rnn_serve.service.http.errors import render
from rnn_serve.service.http.routing import Call, Route

log = logging.getLogger(__name__)
# Refused bodies read at once. In a burst of 3.4 MB uploads on 2 cores, draining every refused
# body together slowed the admitted ones' uploads: their p99 went from 1.5 to 2.1 s.
DRAINS_AT_ONCE = 2
# Large bodies are read a few at a time, each to its end: 64 uploads read side by side all
# finish late, together, and then most are refused at once while the workers sat idle through
# the upload. One that stops sending for STALL_S gives its turn to the next.
GATED_BYTES, READS_AT_ONCE, STALL_S = 1 << 20, 4, 0.2


class Dispatcher:
    def __init__(
        self,
        app: ASGIApp,
        routes: Iterable[Route],
        state: Any,
        max_body: int,
        max_inflight_bytes: int,
    ) -> None:
        self.app = app
        self.routes: dict[str, list[Route]] = {}
        for route in routes:
            self.routes.setdefault(route.method, []).append(route)
        self.state = state
        self.max_body = max_body
        self.max_inflight_bytes = max_inflight_bytes
        self.inflight_bytes = 0  # bodies being read, or held until their handler returns
        self.drains = asyncio.Semaphore(DRAINS_AT_ONCE)
        self.turns = Turns(READS_AT_ONCE)

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
        held, admitted = [0], None  # body bytes held towards the in-flight bound
        try:
            headers = Headers(scope=scope)
            body = b""
            if route.method == "POST":
                encoding = content_encoding(headers)
                try:
                    if route.queued and headers.get("expect", "").lower() == "100-continue":
                        self._check_queue()
                    body = await self._read(receive, headers, held)
                except Overloaded as refusal:
                    return Refusal(
                        render(refusal),
                        drains=self.drains if _must_drain(scope, headers) else None,
                        sent=self.state.metrics.refusals.observe,
                    )
                body = decoded(body, encoding, self.max_body)
                if route.queued:
                    admitted = self._admit(len(body), scope)
            call = Call(self.state, scope["path_params"], headers, body, scope.get("owner", ""))
            return await route.handler(call)
        except ServeError as error:
            return render(error)
        except ClientDisconnect:
            return Response(status_code=499)  # nobody is left to read it
        except Exception:
            request_id = scope.get("request_id")
            log.exception(
                "unhandled error on %s %s (request %s)", route.method, scope["path"], request_id
            )
            return render(InternalError(request_id))
        finally:
            self.inflight_bytes -= held[0]
            if admitted is not None:
                admitted.leave()

    def _check_queue(self) -> None:
        """For a client that waits for 100 Continue: a 503 before it sends its body, when the
        work already admitted is past the bound. Any other client sends its body anyway, and
        refusing it first would only make it wait for the body to be drained."""
        engine = getattr(self.state, "engine", None)
        if engine is not None:
            engine.check_admission()

    def _admit(self, size: int, scope: Scope) -> Admitted | None:
        """Admits a request to a model once its body has arrived (None before the engine has
        started). Bodies still arriving are no work yet: counting them would refuse others
        while the workers sit idle."""
        engine: Engine | None = getattr(self.state, "engine", None)
        if engine is None:
            return None
        try:
            return engine.admit(size)
        except Overloaded:
            started = scope.get("started", time.perf_counter())
            self.state.metrics.refusals.observe(time.perf_counter() - started)
            raise

    async def _read(self, receive: Receive, headers: Headers, held: list[int]) -> bytes:
        """The raw body, a 413 as soon as it passes the size limit, a 503 as soon as the bytes
        of the bodies being received or served pass the in-flight bound: counted as they
        arrive, not as announced, so that a client announcing a body it never sends holds
        nothing."""
        declared = declared_length(headers)
        if declared > self.max_body:
            raise PayloadTooLarge(
                f"request body of {declared} bytes exceeds the limit of {self.max_body}"
            )
        if declared > GATED_BYTES:
            async with self.turns.reading(receive) as in_turn:
                return await self._collect(in_turn, held)
        return await self._collect(receive, held)

    async def _collect(self, receive: Receive, held: list[int]) -> bytes:
        parts, size = [], 0
        async for chunk in _chunks(receive):
            size += len(chunk)
            if size > self.max_body:
                raise PayloadTooLarge(f"request body exceeds the limit of {self.max_body} bytes")
            self.inflight_bytes += len(chunk)
            held[0] += len(chunk)
            if self.inflight_bytes > self.max_inflight_bytes:
                raise Overloaded(
                    f"overloaded: {self.inflight_bytes} bytes of request bodies are in flight, "
                    f"the bound is {self.max_inflight_bytes}",
                )
            parts.append(chunk)
        return b"".join(parts)


class Turns:
    """A few turns to read a large body: one is held while the body's bytes flow, given up
    while they do not (for STALL_S), and taken again when they do."""

    def __init__(self, count: int) -> None:
        self.free = asyncio.Semaphore(count)

    @asynccontextmanager
    async def reading(self, receive: Receive) -> AsyncIterator[Receive]:
        holding = False

        async def in_turn() -> Message:
            nonlocal holding
            if not holding:
                await self.free.acquire()
                holding = True
            try:
                return await asyncio.wait_for(receive(), STALL_S)
            except TimeoutError:
                self.free.release()  # stalled: the next one reads meanwhile
                holding = False
                return await receive()

        try:
            yield in_turn
        finally:
            if holding:
                self.free.release()


class Refusal(Response):
    """A refusal sent before the request's body is read: the client reads it at once, without
    waiting to finish sending. With ``drains``, a body sent anyway is then read and dropped, so
    that the connection ends cleanly (closing a socket with unread bytes resets it, under a
    client still sending: most send all of a body before they read), a few bodies at a time:
    meanwhile the others wait in their sockets, and the bodies of admitted requests are read
    first. ``sent`` gets the seconds from the request's arrival to its answer."""

    def __init__(
        self, refused: Response, drains: asyncio.Semaphore | None, sent: Callable[[float], None]
    ) -> None:
        super().__init__(refused.body, refused.status_code, dict(refused.headers))
        self.drains, self.sent = drains, sent

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        await send({"type": "http.response.body", "body": self.body, "more_body": True})
        self.sent(time.perf_counter() - scope.get("started", time.perf_counter()))
        if self.drains is not None:
            async with self.drains:
                await _drain(receive)
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def _must_drain(scope: Scope, headers: Headers) -> bool:
    """Whether a refused request's body must be read here before its connection closes. A
    client that waits for "100 Continue" never sends it. On a connection kept alive, uvicorn
    skips what is left of it without copying it, and reads the next request."""
    if headers.get("expect", "").lower() == "100-continue":
        return False
    closing = "close" in headers.get("connection", "").lower()
    return closing or scope.get("http_version") != "1.1"


async def _drain(receive: Receive) -> None:
    try:
        async for _ in _chunks(receive):
            pass
    except ClientDisconnect:
        pass


async def _chunks(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return
