"""Admission and deadlines: never an unbounded queue, never an unbounded wait."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from service.errors import InferenceTimeout, Overloaded

T = TypeVar("T")


class Admission:
    def __init__(self, max_pending: int, timeout_s: float) -> None:
        self.max_pending = max_pending
        self.timeout_s = timeout_s
        self.pending = 0  # requests admitted and waiting for, or in, inference

    async def guarded(self, inference: Awaitable[T]) -> T:
        """Past ``max_pending`` waiting requests an immediate 503, past ``timeout_s`` a 504."""
        if self.pending >= self.max_pending:
            close = getattr(inference, "close", None)
            if close is not None:
                close()  # never started: no "coroutine was never awaited" warning
            raise Overloaded(
                f"overloaded: {self.max_pending} requests are already waiting for inference"
            )
        self.pending += 1
        try:
            # asyncio.timeout schedules one timer; wait_for would wrap the call in a new task.
            async with asyncio.timeout(self.timeout_s):
                return await inference
        except TimeoutError:
            raise InferenceTimeout(f"inference took longer than {self.timeout_s:g} s") from None
        finally:
            self.pending -= 1
