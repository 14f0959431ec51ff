"""Serves the route table straight from ASGI, the one layer in front of FastAPI.

FastAPI's routing, dependency injection and exception middleware cost more per request than a
small inference does. This layer gives each request its id, access log line and metrics, checks
API keys, matches the table's routes itself, reads a POST's body under the size limit, and turns
every error into the one error shape. Anything else (the docs' assets, unknown paths) goes on to
FastAPI.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rnn_serve.service import tracing
from rnn_serve.service.engine import Admitted, Engine, Reservation
from rnn_serve.service.errors import (
    InternalError,
    MethodNotAllowed,
    Overloaded,
    PayloadTooLarge,
    ServeError,
    ShuttingDown,
)
from rnn_serve.service.http import streams
from rnn_serve.service.http.body import body_headers, decoded
from rnn_serve.service.http.connection import DISCARD_BYTES
from rnn_serve.service.http.errors import render
from rnn_serve.service.http.middleware import Keys, Observe, Stamped
from rnn_serve.service.http.routing import Call, Route

log = logging.getLogger(__name__)
# Large bodies are read a few at a time, each to its end: 64 uploads read side by side all
# finish late, together, and then most are refused at once while the workers sat idle through
# the upload. One that stops sending for STALL_S gives its turn to the next.
GATED_BYTES, READS_AT_ONCE, STALL_S = 1 << 20, 4, 0.2
MATCHED_PATHS = 4096
PLAIN_CALL = Response.__call__  # an answer that sends its body whole, in one message


class Dispatcher:
    """The one layer in front of FastAPI, for every request: its id, logs and metrics
    (``Observe``), API keys (``Keys``, when there are any), then the route table. The answers
    it builds are sent as they are, with the id's header added; FastAPI's answers pass
    through a ``Stamped`` send."""

    def __init__(
        self,
        app: ASGIApp,
        routes: Iterable[Route],
        state: Any,
        observe: Observe,
        keys: Keys | None = None,
    ) -> None:
        self.app = app
        self.routes: dict[str, list[Route]] = {}
        for route in routes:
            self.routes.setdefault(route.method, []).append(route)
        self.state = state
        self.observe = observe
        self.keys = keys
        settings = state.settings
        self.max_body = settings.max_body_bytes
        self.max_inflight_bytes = settings.max_inflight_bytes
        self.inflight_bytes = 0  # bodies being read, or held until their handler returns
        self.turns = Turns(READS_AT_ONCE)
        self.matched: dict[tuple[str, str], tuple[Route, dict[str, str]]] = {}  # _match

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        """An HTTP request (the app calls this directly)."""
        observe = self.observe
        request_id = observe.begin(scope)
        status, answering, stamped = 500, False, None
        try:
            response = await self._answer(scope, receive)
            if response is None:  # FastAPI's: the docs' assets, unknown paths
                stamped = Stamped(send, observe, request_id)
                await self.app(scope, receive, stamped)
                return
            status, answering = response.status_code, True
            response.raw_headers += observe.stamp(request_id)  # built for this request alone
            if type(response).__call__ is PLAIN_CALL and response.background is None:
                # what Response.__call__ sends, without a coroutine around it
                await send(
                    {
                        "type": "http.response.start",
                        "status": status,
                        "headers": response.raw_headers,
                    }
                )
                await send({"type": "http.response.body", "body": response.body})
            else:
                await response(scope, receive, send)
        except asyncio.CancelledError:
            # uvicorn cancels what is still running when RNN_SERVE_GRACEFUL_TIMEOUT ends, and
            # would answer a bare 500: say what happened instead, where nothing was sent yet.
            if not (answering or (stamped is not None and stamped.status)):
                error = ShuttingDown("the server shut down before this request finished")
                stamped = Stamped(send, observe, request_id)
                await render(error)(scope, receive, stamped)
            raise
        finally:
            if stamped is not None and stamped.status:  # the status another app sent
                status = stamped.status
            observe.record(scope, status, request_id)

    async def _answer(self, scope: Scope, receive: Receive) -> Response | None:
        """The answer to an HTTP request, None where FastAPI answers it."""
        if self.state.drain.closing:
            return render(ShuttingDown("the server is shutting down: retry on a new connection"))
        refusal = self.keys.refusal(scope) if self.keys is not None else None
        if refusal is not None:
            return render(refusal)
        path, method = scope["path"], scope["method"]
        matched = self._match(method, path)
        if matched is not None:
            route, params = matched
            scope["route_template"], scope["path_params"] = route.path, dict(params)
            if tracing.ON:
                tracing.name_request(method, route.path)
            return await self._serve(route, scope, receive)
        allowed = self._methods_for(path)
        if not allowed:
            return None
        return render(
            MethodNotAllowed(
                f"method {method} is not allowed on {path}; use {', '.join(allowed)}",
                headers={"Allow": ", ".join(allowed)},
            )
        )

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        refusal = self.keys.refusal(scope) if self.keys is not None else None
        if refusal is not None:
            await render(refusal)(scope, receive, send)
            return
        stream = streams.PATH.fullmatch(scope["path"])
        if stream is None:
            await self.app(scope, receive, send)
            return
        scope["route_template"], scope["path_params"] = streams.ROUTE, stream.groupdict()
        await streams.serve(scope, receive, send, self.state)

    def _match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        """The route of ``method`` that ``path`` matches, and its parameters; remembered for
        MATCHED_PATHS paths (clients send the same few again and again)."""
        key = (method, path)
        found = self.matched.get(key)
        if found is None:
            for route in self.routes.get(method, ()):
                match = route.pattern.fullmatch(path)
                if match is not None:
                    if len(self.matched) >= MATCHED_PATHS:
                        self.matched.clear()
                    found = self.matched[key] = (route, match.groupdict())
                    break
        return found

    def _methods_for(self, path: str) -> list[str]:
        return sorted(
            method
            for method, routes in self.routes.items()
            if any(route.pattern.fullmatch(path) for route in routes)
        )

    async def _serve(self, route: Route, scope: Scope, receive: Receive) -> Response:
        held, admitted = [0], None  # body bytes held towards the in-flight bound
        reservation = None  # the work of a body announced by a client told to send it
        unread = False  # a body past DISCARD_BYTES not yet read: an early answer closes
        try:
            body = b""
            if route.method == "POST":
                declared, encoding, expects_continue = body_headers(scope["headers"])
                unread = declared > DISCARD_BYTES
                try:
                    if route.queued:
                        reservation = self._check_queue(declared, expects_continue, scope)
                    body = await self._read(receive, declared, held, reservation)
                except Overloaded as refusal:
                    return Refusal(_answer(refusal, unread), self.state.metrics.refusals.observe)
                unread = False
                if encoding != "identity":
                    body = decoded(body, encoding, self.max_body)
                if route.queued:
                    admitted = self._admit(len(body), scope, reservation)
            call = Call(self.state, scope["path_params"], scope, body, scope.get("owner", ""))
            return await route.handler(call)
        except ServeError as error:
            return _answer(error, unread)
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
            if reservation is not None:
                reservation.release()
            if admitted is not None:
                admitted.leave()

    def _check_queue(
        self, declared: int, expects_continue: bool, scope: Scope
    ) -> Reservation | None:
        """A 503 before the body is read when the work already admitted is past the bound: a
        client that waits for 100 Continue never sends it, and any other is answered at once
        and stops sending (connection.py). One that waits is told to send its body with the
        work of that body reserved (admission.py)."""
        engine: Engine | None = getattr(self.state, "engine", None)
        if engine is None:
            return None
        if expects_continue:
            return engine.reserve(declared, scope["path_params"].get("name", ""))
        engine.check_admission()
        return None

    def _admit(self, size: int, scope: Scope, reservation: Reservation | None) -> Admitted | None:
        """Admits a request to a model once its body has arrived (None before the engine has
        started). Bodies still arriving are no work yet: counting them would refuse others
        while the workers sit idle."""
        engine: Engine | None = getattr(self.state, "engine", None)
        if engine is None:
            return None
        model = scope["path_params"].get("name", "")
        try:
            if not tracing.ON:  # no span, and no context manager standing in for one
                return engine.admit(size, model, reservation)
            with tracing.span("admission", bytes=size):
                return engine.admit(size, model, reservation)
        except Overloaded:
            self.state.metrics.refusals.observe(time.perf_counter() - scope["started"])
            raise

    def _read(
        self, receive: Receive, declared: int, held: list[int], reservation: Reservation | None
    ) -> Awaitable[bytes]:
        """The raw body, a 413 as soon as it passes the size limit, a 503 as soon as the bytes
        of the bodies being received or served pass the in-flight bound: counted as they
        arrive, not as announced, so that a client announcing a body it never sends holds
        nothing. A ``reservation`` is released once the body stops coming for STALL_S."""
        if declared > self.max_body:
            raise PayloadTooLarge(
                f"request body of {declared} bytes exceeds the limit of {self.max_body}"
            )
        if declared > GATED_BYTES:
            return self._collect_in_turn(receive, held, reservation)
        if reservation is not None:
            receive = _released_on_stall(receive, reservation)
        return self._collect(receive, held)

    async def _collect_in_turn(
        self, receive: Receive, held: list[int], reservation: Reservation | None
    ) -> bytes:
        stalled = reservation.release if reservation is not None else _nothing
        async with self.turns.reading(receive, stalled) as in_turn:
            return await self._collect(in_turn, held)

    async def _collect(self, receive: Receive, held: list[int]) -> bytes:
        """The body's parts as they come (no generator: most bodies are one part)."""
        parts: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnect()
            chunk = message.get("body", b"")
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
            if not message.get("more_body", False):
                return b"".join([*parts, chunk]) if parts else chunk
            parts.append(chunk)


class Turns:
    """A few turns to read a large body: one is held while the body's bytes flow, given up
    while they do not (for STALL_S: ``stalled`` is called then), and taken again when they
    do."""

    def __init__(self, count: int) -> None:
        self.free = asyncio.Semaphore(count)

    @asynccontextmanager
    async def reading(
        self, receive: Receive, stalled: Callable[[], None]
    ) -> AsyncIterator[Receive]:
        holding = False

        def give_up() -> None:
            nonlocal holding
            self.free.release()  # stalled: the next one reads meanwhile
            holding = False
            stalled()

        async def in_turn() -> Message:
            nonlocal holding
            if not holding:
                await self.free.acquire()
                holding = True
            return await _receive_or_stall(receive, give_up)

        try:
            yield in_turn
        finally:
            if holding:
                self.free.release()


def _released_on_stall(receive: Receive, reservation: Reservation) -> Receive:
    """``receive``, releasing the reservation when a part of the body is STALL_S late: a
    client that announced a body and does not send it holds nothing after that."""

    async def watched() -> Message:
        if not reservation.held:
            return await receive()
        return await _receive_or_stall(receive, reservation.release)

    return watched


async def _receive_or_stall(receive: Receive, stalled: Callable[[], None]) -> Message:
    """The next part of the body; when it is STALL_S late, ``stalled()``, then wait on."""
    try:
        async with asyncio.timeout(STALL_S):
            return await receive()
    except TimeoutError:
        stalled()
        return await receive()


def _nothing() -> None:
    pass


class Refusal(Response):
    """An overload refusal, answered before the request's body is read; ``sent`` gets the
    seconds from the request's arrival to its answer."""

    def __init__(self, refused: Response, sent: Callable[[float], None]) -> None:
        super().__init__(refused.body, refused.status_code, dict(refused.headers))
        self.sent = sent

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await super().__call__(scope, receive, send)
        self.sent(time.perf_counter() - scope["started"])  # set by Observe.begin


def _answer(error: ServeError, unread: bool) -> Response:
    """The error's answer; with a large body still unread, one that closes the connection
    rather than reading the rest of it (connection.py)."""
    answer = render(error)
    if unread:
        answer.headers["Connection"] = "close"
    return answer
