"""The HTTP connection itself: uvicorn's httptools protocol with the limits a server facing
clients it does not control needs, as nginx has them (client_header_timeout,
client_body_timeout, large_client_header_buffers, keepalive_timeout):

- the request line and headers arrive within ``header_timeout_s`` of the connection's start
  or the request's first byte, within ``max_header_bytes`` and ``max_headers`` (408, 431);
- a body's parts arrive at most ``body_idle_timeout_s`` apart, the whole of it within
  ``body_timeout_s`` (408);
- past ``max_connections`` open connections a request gets a 503, but health probes never
  do: slow or idle clients cannot fail a replica's probes;
- every refusal, the parser's included, is the service's JSON error body;
- an answer that closes the connection before its request's body has all arrived (a
  refusal, say) does not reset it under a client still sending (most send all of a body
  before they read): a body of up to ``DISCARD_BYTES`` is read and dropped first; past that,
  the connection is half-closed and left unread for ``LINGER_S``, then closed, as Go's
  net/http does. The client reads its answer and stops sending: neither side pays for the
  rest of the upload.

A refusal before the request reaches the app closes the connection: nothing after it on the
socket can be trusted to be a request.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from itertools import chain
from typing import Any

from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from rnn_serve.service.errors import (
    HeadersTooLarge,
    MalformedRequest,
    Overloaded,
    RequestTimeout,
    ServeError,
)
from rnn_serve.service.http.errors import render
from rnn_serve.service.settings import Settings

HEALTH = frozenset({b"/v2/health/live", b"/v2/health/ready"})
# Go's net/http: maxPostHandlerReadBytes and rstAvoidanceDelay
DISCARD_BYTES, LINGER_S = 256 << 10, 0.5


@functools.cache
def _settings() -> Settings:
    """Read once per server process (each uvicorn worker reads its own environment)."""
    return Settings()


class GuardedHttpTools(HttpToolsProtocol):
    """Timers are armed only while something is awaited: a request that arrives in one read
    (the usual small one) costs no timer at all, and an idle kept-alive connection one timer
    per idle period, not one armed and cancelled per request as uvicorn's."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = _settings()
        self.timeout_keep_alive = self.limits.keepalive_timeout_s  # type: ignore[assignment]
        self.limit_concurrency = None  # ours, which health probes pass (on_headers_complete)
        self._timer: asyncio.TimerHandle | None = None
        self._idle_timer: asyncio.TimerHandle | None = None
        self._idle_since = 0.0  # when the last answer was complete
        self._header_bytes = 0  # read since the last request's headers were complete
        self._body_deadline = 0.0  # 0 until a request's body is waited for
        self._last_read = 0.0
        self._closing = False  # answered, and closing once the request's body has ended
        self._unread = False  # answered, and closing without reading the rest of the body

    @property
    def _in_headers(self) -> bool:
        """Reading a request line and headers, or waiting for them: no request's body is
        still due."""
        return self.cycle is None or not self.cycle.more_body

    # Connection events

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._cycle_transport = _CycleTransport(transport, self._close_after_body)
        self._arm(self.limits.header_timeout_s, self._headers_late)  # a connection left idle

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # _in_headers, written out: this runs for every read of every request
        cycle = self.cycle
        if cycle is None or not cycle.more_body:
            self._header_bytes += len(data)
        else:
            self._last_read = self.loop.time()
        HttpToolsProtocol.data_received(self, data)
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is not None and cycle.more_body:
            if self._timer is None:
                if not self._body_deadline:  # the body has just begun
                    self._last_read = now = self.loop.time()
                    self._body_deadline = now + self.limits.body_timeout_s
                self._arm_body()
        elif not self._header_bytes:  # the request's headers are complete: nothing is due
            return
        elif self._header_bytes > self.limits.max_header_bytes:
            self._refuse(HeadersTooLarge(f"the request line and headers exceed {self._max_bytes}"))
        elif self._timer is None:
            self._arm(self.limits.header_timeout_s, self._headers_late)

    def send_400_response(self, msg: str) -> None:
        """The parser stopped at bytes that are not HTTP."""
        self._refuse(
            MalformedRequest(
                "invalid HTTP request: the request line or headers could not be parsed"
            )
        )

    # Parser callbacks

    def on_headers_complete(self) -> None:
        self._disarm()
        self._header_bytes, self._body_deadline = 0, 0.0
        limits, headers = self.limits, self.headers
        if len(headers) > limits.max_headers:
            self._refuse(HeadersTooLarge(f"the request has more than {limits.max_headers} headers"))
            return
        size = len(self.url) + 4 * len(headers) + sum(map(len, chain.from_iterable(headers)))
        if size > limits.max_header_bytes:
            self._refuse(HeadersTooLarge(f"the request line and headers exceed {self._max_bytes}"))
            return
        if len(self.connections) <= limits.max_connections or self._is_health_probe():
            HttpToolsProtocol.on_headers_complete(self)
        else:
            app, self.app = self.app, _too_many_connections(limits.max_connections)
            try:
                HttpToolsProtocol.on_headers_complete(self)
            finally:
                self.app = app
        if self.cycle is not None:  # None when upgrading to a WebSocket
            self.cycle.transport = self._cycle_transport  # type: ignore[assignment]

    def on_message_complete(self) -> None:
        HttpToolsProtocol.on_message_complete(self)
        if self._closing:
            self.transport.close()  # the answer closed the connection; its body has ended

    def on_response_complete(self) -> None:
        """uvicorn's, but for its keep-alive timer: one per idle period (``_idle``)."""
        if self._unread:  # uvicorn would read on (and answer a request after it)
            return
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
            return
        self._idle_since = self.loop.time()
        if self._idle_timer is None:
            self._idle_timer = self.loop.call_at(
                self._idle_since + self.timeout_keep_alive, self._idle
            )

    def _is_health_probe(self) -> bool:
        return self.url.partition(b"?")[0] in HEALTH

    def _close_after_body(self) -> None:
        """A request's cycle closing the connection after its answer, while the request's
        body may still be arriving: closing a socket with bytes unread resets the connection,
        and a client still sending would lose the answer."""
        cycle = self.cycle
        if cycle is None or not cycle.more_body or cycle.waiting_for_100_continue:
            self.transport.close()  # nothing more is coming
        elif _declared_length(self.headers) <= DISCARD_BYTES:
            self._closing = True  # the rest is read and dropped (uvicorn skips it) ...
            self._arm(self.limits.body_idle_timeout_s, self.transport.close)  # ... if it comes
        else:
            self._unread = True
            self._disarm()
            self.flow.pause_reading()
            self.transport.write_eof()  # after the answer
            self.loop.call_later(LINGER_S, self.transport.close)

    # Timers

    def _arm(self, seconds: float, handler: Callable[[], None]) -> None:
        self._disarm()
        self._timer = self.loop.call_later(seconds, handler)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm_body(self) -> None:
        now = self.loop.time()
        idle_until = self._last_read + self.limits.body_idle_timeout_s
        self._arm(max(min(idle_until, self._body_deadline) - now, 0), self._body_late)

    def _headers_late(self) -> None:
        self._timer = None
        if not self._in_headers:
            return  # a body is due now: its own timer follows
        if self._header_bytes == 0 and (self.cycle is None or self.cycle.response_complete):
            self.transport.close()  # an idle connection: nothing to answer
            return
        self._refuse(
            RequestTimeout(f"the request's headers took longer than {self._seconds('header')}")
        )

    def _idle(self) -> None:
        """A kept-alive connection idle for ``timeout_keep_alive`` since its last answer is
        closed. A request under way, or arriving, keeps it (the header and body timers guard
        those); the next answer arms this again."""
        self._idle_timer = None
        cycle = self.cycle
        busy = cycle is not None and not cycle.response_complete
        if busy or self._header_bytes or self.transport.is_closing():
            return
        due = self._idle_since + self.timeout_keep_alive
        if self.loop.time() < due:
            self._idle_timer = self.loop.call_at(due, self._idle)
        else:
            self.transport.close()

    def _body_late(self) -> None:
        self._timer = None
        if self._in_headers:
            return  # the body ended meanwhile
        now = self.loop.time()
        if self.flow.read_paused:  # the server stopped reading, not the client sending
            self._last_read = now
        if now < min(self._last_read + self.limits.body_idle_timeout_s, self._body_deadline):
            self._arm_body()  # bytes came since the timer was set
            return
        self._refuse(
            RequestTimeout(
                f"the request body took longer than {self._seconds('body')} in all"
                if now >= self._body_deadline
                else f"the request body stalled: nothing for {self._seconds('body_idle')}"
            )
        )

    def _seconds(self, name: str) -> str:
        return f"{getattr(self.limits, f'{name}_timeout_s'):g} s"

    @property
    def _max_bytes(self) -> str:
        return f"{self.limits.max_header_bytes} bytes"

    def _refuse(self, error: ServeError) -> None:
        """The JSON error, then the connection closed. A request the app is still serving
        gets nothing more from it: its body ends as a disconnect, its answer is dropped. An
        answer already under way is left unfinished: the close alone tells the client."""
        if self.transport.is_closing():
            return
        cycle = self.cycle
        answering = cycle is not None and cycle.response_started and not cycle.response_complete
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True
            cycle.message_event.set()
        if not answering:
            self.transport.write(_closing_answer(error))
        self.transport.close()


def _declared_length(headers: list[tuple[bytes, bytes]]) -> int:
    for name, value in headers:
        if name == b"content-length":
            return int(value) if value.isdigit() else 0
    return 0


class _CycleTransport:
    """The transport as a request's cycle sees it: its close waits for the request's body."""

    __slots__ = ("close", "is_closing", "write")

    def __init__(self, transport: asyncio.Transport, close: Callable[[], None]) -> None:
        self.write, self.is_closing, self.close = transport.write, transport.is_closing, close


def _closing_answer(error: ServeError) -> bytes:
    """The error as the service renders every error, written straight to the socket (no
    request reached the app), closing the connection."""
    answer = render(error)
    head = [STATUS_LINE[answer.status_code]]
    head += [name + b": " + value + b"\r\n" for name, value in answer.raw_headers]
    return b"".join([*head, b"connection: close\r\n\r\n", answer.body])


@functools.cache
def _too_many_connections(limit: int) -> Callable[[Scope, Receive, Send], Any]:
    error = Overloaded(
        f"overloaded: {limit} connections are open (RNN_SERVE_MAX_CONNECTIONS); retry shortly",
        headers={"Retry-After": "1", "Connection": "close"},
    )

    async def refuse(scope: Scope, receive: Receive, send: Send) -> None:
        await render(error)(scope, receive, send)

    return refuse
