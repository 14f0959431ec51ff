"""The inference threads: where blocking work (inference, parsing a large body) leaves the loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class Threads:
    def __init__(self, count: int) -> None:
        self.executor = ThreadPoolExecutor(count, "inference")

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """``fn(*args)`` on an inference thread, awaited from the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    def shutdown(self) -> None:
        self.executor.shutdown(wait=True)
