"""Worker processes for the work that holds the interpreter lock: reading large JSON bodies and
writing large answers.

orjson and pydantic hold the lock while they work (about 45 ms for a 3.4 MB body), and so does
writing a large answer (about 37 ms). On a thread they still stop the event loop, which then
answers everything late, refusals included: in a burst of 64 such uploads on 2 cores the loop
fell seconds behind. In a worker process they run beside the loop, which only moves bytes.

A worker that dies (killed for memory, say) breaks the pool: the call runs again on a thread,
and a new pool starts for the next ones, so no accepted request is lost. This is the HTTP
layer's (bodies and answers are its business); the engine never sees bytes.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


class BodyWorkers:
    """``count`` worker processes (none: everything runs on a thread of the loop's)."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.executor = self._start() if count else None

    def _start(self) -> ProcessPoolExecutor:
        # spawn, not fork: the server has ONNX Runtime's and the loop's threads running, and a
        # forked child would inherit their locks in whatever state they were in.
        return ProcessPoolExecutor(self.count, multiprocessing.get_context("spawn"))

    def start(self) -> None:
        """Starts every worker now, in the background, rather than on the first large request
        (each imports the parsers: about a second)."""
        if self.executor is not None:
            for _ in range(self.count):
                self.executor.submit(_ready)

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """``fn(*args)`` in a worker process (``fn`` and its arguments, result and errors must
        pickle), or on a thread without workers or when the pool broke."""
        executor = self.executor
        if executor is None:
            return await asyncio.to_thread(fn, *args)
        try:
            return await asyncio.get_running_loop().run_in_executor(executor, fn, *args)
        except BrokenProcessPool:
            log.error("a worker process died; restarting the pool, this call runs on a thread")
            if self.executor is executor:
                self.executor = self._start()
                executor.shutdown(wait=False)
            return await asyncio.to_thread(fn, *args)

    def shutdown(self) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=True)


def _ready() -> bool:
    return True
