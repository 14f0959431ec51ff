"""One pipelined connection to a Redis server, for the commands of sequence steps.

redis-py spends most of a small command in Python: a pool checkout, a retry wrapper, a
timeout context per read, and the packing of each argument. A step of a live sequence sends
three small commands in two round trips, so that cost was most of what Redis added to a step.
Here every command is written as it comes, the commands of one turn of the event loop in one
write, and the answers, parsed by hiredis, are matched to their callers in order: a command
costs an append and a future, and any number of sequences share the connection's round trips.

Failures keep redis-py's exceptions, so callers see one kind of outage: a connection that
cannot be made or is lost fails the commands on it with ConnectionError, an answer later than
``timeout_s`` aborts the connection and fails its commands with TimeoutError, and the next
command connects again (to the master the sentinels name now, for a sentinel-watched one).
"""

from __future__ import annotations

import asyncio
import collections
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import hiredis
from redis import exceptions
from redis.asyncio.connection import SSLConnection, parse_url

Address = Callable[[], Awaitable[tuple[str, int]]]
ERRORS = {"NOSCRIPT": exceptions.NoScriptError, "READONLY": exceptions.ReadOnlyError}  # as redis-py


class Link:
    """Commands to one Redis server over one connection, made when first needed and again
    after an outage."""

    def __init__(
        self,
        address: Address,
        timeout_s: float,
        hello: list[tuple[Any, ...]],
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.address, self.timeout_s, self.hello, self.tls = address, timeout_s, hello, tls
        self.wire: _Wire | None = None
        self.connecting: asyncio.Future[_Wire] | None = None

    @classmethod
    def from_url(cls, url: str, timeout_s: float) -> Link:
        """For ``redis://[user:password@]host:port/db`` or ``rediss://`` (TLS; its ``ssl_*``
        query options as redis-py reads them)."""
        options: dict[str, Any] = dict(parse_url(url))
        host, port = options["host"], options.get("port", 6379)

        async def address() -> tuple[str, int]:
            return host, port

        tls = _tls(options) if options.get("connection_class") is SSLConnection else None
        return cls(address, timeout_s, hello(options), tls)

    def execute(self, *command: Any) -> Awaitable[Any]:
        """The answer to ``command``: a future, or a coroutine that connects first."""
        wire = self.wire
        if wire is None or wire.closed:
            return self._connect_and_send(command)
        return wire.send(hiredis.pack_command(command))

    async def pipeline(self, *commands: tuple[Any, ...]) -> list[Any]:
        """Several commands in one write, and their answers; an error is raised, the first."""
        wire = self.wire
        if wire is None or wire.closed:
            wire = await self._connected()
        sent = [wire.send(hiredis.pack_command(command)) for command in commands]
        try:
            return [await answer for answer in sent]
        finally:
            for answer in sent:  # each outcome read, or its answer dropped when it comes
                if answer.done() and not answer.cancelled():
                    answer.exception()
                else:
                    answer.cancel()

    async def _connect_and_send(self, command: tuple[Any, ...]) -> Any:
        wire = await self._connected()
        return await wire.send(hiredis.pack_command(command))

    def close(self) -> None:
        if self.wire is not None:
            self.wire.abort(exceptions.ConnectionError("the Redis link is closed"))

    async def _connected(self) -> _Wire:
        """Connects once however many commands wait for it; an outage fails each of them."""
        if self.connecting is None:
            self.connecting = asyncio.ensure_future(self._connect())
        connecting = self.connecting
        try:
            return await asyncio.shield(connecting)
        finally:
            if connecting.done() and self.connecting is connecting:
                self.connecting = None

    async def _connect(self) -> _Wire:
        wire = _Wire(self.timeout_s)
        try:
            async with asyncio.timeout(self.timeout_s):
                host, port = await self.address()
                await asyncio.get_running_loop().create_connection(
                    lambda: wire, host, port, ssl=self.tls
                )
                for command in self.hello:  # AUTH, SELECT: answered before any other
                    await wire.send(hiredis.pack_command(command))
        except (OSError, TimeoutError, exceptions.RedisError) as error:
            wire.abort()
            reason = str(error) or type(error).__name__
            raise exceptions.ConnectionError(f"cannot connect to Redis: {reason}") from None
        self.wire = wire
        return wire


class _Wire(asyncio.Protocol):
    """One connection: commands written in order, the commands of one turn of the event loop in
    one write, and their answers matched in order."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.transport: asyncio.Transport | None = None
        self.reader = hiredis.Reader()
        self.waiting: collections.deque[tuple[float, asyncio.Future[Any]]] = collections.deque()
        self.unsent: list[bytes] = []
        self.watch: asyncio.TimerHandle | None = None
        self.closed = False

    def send(self, packed: bytes) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        answer = loop.create_future()
        if self.closed:
            answer.set_exception(exceptions.ConnectionError("the connection to Redis was lost"))
            return answer
        if not self.unsent:
            loop.call_soon(self._flush)
        self.unsent.append(packed)
        now = loop.time()
        self.waiting.append((now, answer))
        if self.watch is None:
            self.watch = loop.call_at(now + self.timeout_s, self._check)
        return answer

    def _flush(self) -> None:
        unsent, self.unsent = self.unsent, []
        if self.transport is not None and unsent:
            self.transport.write(b"".join(unsent))

    def _check(self) -> None:
        """The oldest unanswered command is late: the connection is dropped (its commands
        fail); else the watch is set for when it would be."""
        self.watch = None
        if not self.waiting:
            return
        loop = asyncio.get_running_loop()
        due = self.waiting[0][0] + self.timeout_s
        if loop.time() >= due:
            self.abort(exceptions.TimeoutError(f"Redis did not answer within {self.timeout_s:g} s"))
        else:
            self.watch = loop.call_at(due, self._check)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        try:
            while (found := self.reader.gets()) is not False:
                _, answer = self.waiting.popleft()
                if answer.done():  # its caller gave up
                    continue
                if not isinstance(found, hiredis.ReplyError):
                    answer.set_result(found)
                    continue
                kind = str(found).partition(" ")[0]
                answer.set_exception(ERRORS.get(kind, exceptions.ResponseError)(str(found)))
                if kind == "READONLY":  # a master its sentinels demoted
                    self.abort()  # the next command asks them again
                    return
        except hiredis.ProtocolError as error:
            self.abort(exceptions.ConnectionError(f"Redis sent what is not RESP: {error}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.abort(
            exceptions.ConnectionError(f"the connection to Redis was lost: {exc or 'closed'}")
        )

    def abort(self, error: Exception | None = None) -> None:
        self.closed = True
        transport, self.transport = self.transport, None
        if transport is not None:
            transport.abort()
        self.unsent.clear()
        if self.watch is not None:
            self.watch.cancel()
            self.watch = None
        failed = error or exceptions.ConnectionError("the connection to Redis was dropped")
        while self.waiting:
            _, answer = self.waiting.popleft()
            if not answer.done():
                answer.set_exception(failed)


def hello(options: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The commands a new connection sends first: AUTH with the URL's credentials, SELECT its
    database."""
    commands: list[tuple[Any, ...]] = []
    if options.get("password") is not None:
        user = options.get("username")
        commands.append(
            ("AUTH", user, options["password"]) if user else ("AUTH", options["password"])
        )
    if options.get("db"):
        commands.append(("SELECT", options["db"]))
    return commands


def _tls(options: dict[str, Any]) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=options.get("ssl_ca_certs"))
    if options.get("ssl_certfile"):
        context.load_cert_chain(options["ssl_certfile"], options.get("ssl_keyfile"))
    if str(options.get("ssl_cert_reqs", "required")).lower() in ("none", "cert_none"):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
