"""Runs one model's inferences, timed, on the event loop or on the inference threads."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from rnn_serve.service.engine.threads import Threads
from rnn_serve.service.runtime.loader import ServedModel

Array = NDArray[np.float32]


class ModelRunner:
    def __init__(
        self,
        model: ServedModel,
        threads: Threads,
        inline_seconds: float,
        observe: Callable[[float], None],
        count: Callable[[str], None] = lambda device: None,
    ) -> None:
        self.model = model
        self.threads = threads
        self.inline_seconds = inline_seconds
        self.observe = observe  # the inference histogram of this model
        self.count = count  # the calls of this model on a device ("cpu", "cuda")

    def run_blocking(self, inputs: Array, state: Array | None) -> tuple[Array, Array]:
        """``predictor.run`` on the device it goes to, timed; for callers already off the
        event loop."""
        predictor = self.model.predictor.device_for(*inputs.shape[:2])
        self.count(predictor.device)
        started = time.perf_counter()
        result = predictor.run_here(inputs, state)
        self.observe(time.perf_counter() - started)
        return result

    async def run(self, inputs: Array, state: Array | None) -> tuple[Array, Array]:
        """One inference: on the event loop when the model's cost model expects it to take at
        most ``inline_seconds`` (the hop to a thread and back would cost more, and on a
        single core nothing else could run meanwhile), else on the inference threads."""
        expected = self.model.predictor.expected_s(*inputs.shape[:2])
        if expected is not None and expected <= self.inline_seconds:
            return self.run_blocking(inputs, state)
        return await self.threads.run(self.run_blocking, inputs, state)
