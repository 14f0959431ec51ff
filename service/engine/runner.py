"""Runs one model's inferences, timed, on the event loop or on the inference threads."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from service.engine.threads import Threads
from service.runtime.registry import ServedModel

Array = NDArray[np.float32]


class ModelRunner:
    def __init__(
        self,
        model: ServedModel,
        threads: Threads,
        inline_seconds: float,
        observe: Callable[[float], None],
    ) -> None:
        self.model = model
        self.threads = threads
        self.inline_seconds = inline_seconds
        self.observe = observe  # the inference histogram of this model

    def run_blocking(self, inputs: Array, state: Array | None) -> tuple[Array, Array]:
        """``predictor.run``, timed; for callers already off the event loop."""
        started = time.perf_counter()
        result = self.model.predictor.run(inputs, state)
        self.observe(time.perf_counter() - started)
        return result

    async def run(self, inputs: Array, state: Array | None) -> tuple[Array, Array]:
        """One inference: on the event loop when the model's cost model expects it to take at
        most ``inline_seconds`` (the hop to a thread and back would cost more, and on a
        single core nothing else could run meanwhile), else on the inference threads."""
        cost = self.model.predictor.cost
        rows, steps = inputs.shape[:2]
        if cost is not None and cost.seconds(rows, steps) <= self.inline_seconds:
            return self.run_blocking(inputs, state)
        return await self.threads.run(self.run_blocking, inputs, state)
