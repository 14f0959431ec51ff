"""Admission and deadlines: never an unbounded queue, never an unbounded wait.

A request is admitted by the wait it would have: the inference work already admitted and not
yet done, in seconds as each model's cost model (timed at start-up) expects it, spread over
the inference threads. Past ``max_queue_s`` it is refused at once, with a Retry-After from
that backlog, rather than answered late. Each request is counted as if it ran alone; batching
makes the real wait shorter, so the bound errs towards refusing early, never towards waiting
longer than it says. The models of a process share one device and its inference threads, so
there is one backlog.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable
from typing import TypeVar

from service.errors import InferenceTimeout, Overloaded

T = TypeVar("T")


class Admission:
    def __init__(
        self, max_pending: int, timeout_s: float, max_queue_s: float, parallelism: int
    ) -> None:
        self.max_pending = max_pending
        self.timeout_s = timeout_s
        self.max_queue_s = max_queue_s
        self.parallelism = parallelism
        self.pending = 0  # requests admitted and waiting for, or in, inference
        self.backlog_s = 0.0  # their expected inference seconds

    def hold(self, seconds: float) -> None:
        """Work outside the inference (a body being parsed and answered) that occupies the
        same cores; ``release`` it when done."""
        self.backlog_s += seconds

    def release(self, seconds: float) -> None:
        self.backlog_s -= seconds

    def expected_wait_s(self) -> float:
        return self.backlog_s / self.parallelism

    def check(self) -> None:
        """A 503 now when a request arriving now would wait past the bound."""
        wait = self.expected_wait_s()
        if wait > self.max_queue_s:
            raise Overloaded(
                f"overloaded: the inference work already queued would take {wait * 1000:.0f} ms "
                f"before this request ran, the bound is {self.max_queue_s * 1000:.0f} ms",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )
        if self.pending >= self.max_pending:
            raise Overloaded(
                f"overloaded: {self.max_pending} requests are already waiting for inference"
            )

    async def guarded(self, inference: Awaitable[T], seconds: float = 0.0) -> T:
        """Runs ``inference`` (expected to take ``seconds``) when admitted: a 503 when the wait
        before it or the number waiting is past its bound, a 504 past ``timeout_s``."""
        try:
            self.check()
        except Overloaded:
            close = getattr(inference, "close", None)
            if close is not None:
                close()  # never started: no "coroutine was never awaited" warning
            raise
        self.pending += 1
        self.backlog_s += seconds
        try:
            # asyncio.timeout schedules one timer; wait_for would wrap the call in a new task.
            async with asyncio.timeout(self.timeout_s):
                return await inference
        except TimeoutError:
            raise InferenceTimeout(f"inference took longer than {self.timeout_s:g} s") from None
        finally:
            self.pending -= 1
            self.backlog_s -= seconds
