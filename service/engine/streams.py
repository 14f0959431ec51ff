"""One stream's calls, answered one at a time in the order they came: what gRPC's
ModelStreamInfer and the WebSocket streams of /v1 share.

A client may send ahead of the answers, up to ``window`` calls not yet answered (its credits).
Past them, ``offer`` refuses (a WebSocket client that ignores its credits is closed), while
``put`` waits (gRPC's own flow control holds the client back meanwhile). A call's error is
its answer, and the stream goes on.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Generic, TypeVar

from rnn_serve.service.errors import ServeError

C = TypeVar("C")
R = TypeVar("R")
_END = object()


class Overrun(Exception):
    """A client sent past its credits."""


class InOrder(Generic[C, R]):
    def __init__(self, run: Callable[[C], Awaitable[R]], window: int) -> None:
        self.window = window
        self._run = run
        self._calls: asyncio.Queue[object] = asyncio.Queue()
        self._room = asyncio.Event()
        self.in_flight = 0  # taken and not yet answered

    def offer(self, call: C) -> None:
        if self.in_flight >= self.window:
            raise Overrun(f"more than {self.window} steps sent ahead of their answers")
        self._take(call)

    async def put(self, call: C) -> None:
        while self.in_flight >= self.window:
            self._room.clear()
            await self._room.wait()
        self._take(call)

    def end(self) -> None:
        """No more calls: the answers end after those taken."""
        self._calls.put_nowait(_END)

    async def answers(self) -> AsyncIterator[tuple[C, R | ServeError]]:
        """Each call with its answer, or its error, in order; a call's credit comes back once
        its answer has been taken."""
        while (call := await self._calls.get()) is not _END:
            try:
                answer: R | ServeError = await self._run(call)  # type: ignore[arg-type]
            except ServeError as error:
                answer = error
            yield call, answer  # type: ignore[misc]
            self.in_flight -= 1
            self._room.set()

    def _take(self, call: C) -> None:
        self.in_flight += 1
        self._calls.put_nowait(call)
