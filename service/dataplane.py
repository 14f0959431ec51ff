"""What the endpoints call: checks a request against its model and runs it off the event loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from service.batching import Batcher
from service.errors import (
    InferenceTimeout,
    InvalidInput,
    ModelNotFound,
    Overloaded,
    PayloadTooLarge,
)
from service.inference.forecast import forecast
from service.inference.registry import ServedModel
from service.metrics import Metrics
from service.sequences import Sequencer
from service.settings import Settings
from service.state import open_store

Array = NDArray[np.float32]
T = TypeVar("T")


class DataPlane:
    def __init__(
        self, models: dict[str, ServedModel], settings: Settings, metrics: Metrics | None = None
    ) -> None:
        self.models = models
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.executor = ThreadPoolExecutor(settings.inference_threads, "inference")
        self.pending = 0  # requests admitted and waiting for, or in, inference
        self.inline_seconds = settings.inline_inference_us / 1e6
        self.runs = {name: self._timed_run(model) for name, model in models.items()}
        self.batchers = {
            name: Batcher(
                partial(self.execute, model),
                model.predictor.zero_state,
                settings.batch_max_sequences,
                settings.batch_max_delay_us,
                settings.inference_threads,
                self.metrics.batch_size.labels(name).observe,
            )
            for name, model in models.items()
            if settings.batching
        }
        self.sequences = Sequencer(open_store(settings), self)

    async def aclose(self) -> None:
        await self.sequences.store.close()
        self.executor.shutdown(wait=True)

    def model(self, name: str) -> ServedModel:
        try:
            return self.models[name]
        except KeyError:
            known = ", ".join(sorted(self.models))
            raise ModelNotFound(f"unknown model {name!r}; loaded models: {known}") from None

    async def predict(
        self, model: ServedModel, inputs: Array, initial_state: Array | None
    ) -> tuple[Array, Array]:
        self._check_inputs(model, inputs, initial_state)
        batcher = self.batchers.get(model.name)
        if batcher is not None:
            return await self.guarded(batcher.submit(inputs, initial_state))
        return await self.guarded(self.execute(model, inputs, initial_state))

    async def forecast(
        self, model: ServedModel, series: list[NDArray[np.floating[Any]]], horizon: int
    ) -> NDArray[np.float64]:
        windows = self._check_series(model, series, horizon)
        transform, window = model.transform, model.window
        assert transform is not None and window is not None  # checked above
        return await self.guarded(
            self.off_loop(forecast, self.runs[model.name], transform, window, windows, horizon)
        )

    async def guarded(self, inference: Awaitable[T]) -> T:
        """Admission and deadline for one request's inference: past ``max_pending`` waiting
        requests an immediate 503, past ``inference_timeout_s`` a 504. Never an unbounded
        queue, never an unbounded wait."""
        limit = self.settings.max_pending
        if self.pending >= limit:
            close = getattr(inference, "close", None)
            if close is not None:
                close()  # never started: no "coroutine was never awaited" warning
            raise Overloaded(f"overloaded: {limit} requests are already waiting for inference")
        self.pending += 1
        try:
            # asyncio.timeout schedules one timer; wait_for would wrap the call in a new task.
            async with asyncio.timeout(self.settings.inference_timeout_s):
                return await inference
        except TimeoutError:
            raise InferenceTimeout(
                f"inference took longer than {self.settings.inference_timeout_s:g} s"
            ) from None
        finally:
            self.pending -= 1

    def _timed_run(
        self, model: ServedModel
    ) -> Callable[[Array, Array | None], tuple[Array, Array]]:
        """``model.predictor.run``, timed into the inference histogram."""
        observe = self.metrics.inference.labels(model.name).observe

        def run(inputs: Array, state: Array | None) -> tuple[Array, Array]:
            started = time.perf_counter()
            result = model.predictor.run(inputs, state)
            observe(time.perf_counter() - started)
            return result

        return run

    async def execute(
        self, model: ServedModel, inputs: Array, state: Array | None
    ) -> tuple[Array, Array]:
        """One inference: on the event loop when the model's cost model expects it to take at
        most ``inline_inference_us`` (the hop to a thread and back would cost more, and on a
        single core nothing else could run meanwhile), else on the inference threads."""
        run = self.runs[model.name]
        cost = model.predictor.cost
        rows, steps = inputs.shape[:2]
        if cost is not None and cost.seconds(rows, steps) <= self.inline_seconds:
            return run(inputs, state)
        return await self.off_loop(run, inputs, state)

    def refresh_gauges(self) -> None:
        self.metrics.in_flight.set(self.pending)
        for name, batcher in self.batchers.items():
            self.metrics.queue_depth.labels(name).set(len(batcher.queue))

    async def off_loop(self, fn: Callable[..., T], *args: object) -> T:
        """Runs blocking work (inference, parsing a large body) on the inference threads."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    def _check_inputs(self, model: ServedModel, inputs: Array, state: Array | None) -> None:
        sig = model.predictor.signature
        batch, steps, features = inputs.shape
        self._check_size(inputs.size, batch, steps)
        if features != sig.features:
            raise InvalidInput(
                f"inputs has {features} features per step, model {model.name!r} expects "
                f"{sig.features}",
                loc=["inputs"],
                kind="features",
            )
        if state is None:
            return
        if not sig.has_initial_state:
            raise InvalidInput(
                f"model {model.name!r} takes no initial_state: its graph has no such input",
                loc=["initial_state"],
                kind="unsupported",
            )
        if state.shape != (batch, sig.hidden_size):
            raise InvalidInput(
                f"initial_state has shape {list(state.shape)}, expected [{batch}, "
                f"{sig.hidden_size}]: one row of {sig.hidden_size} per input sequence",
                loc=["initial_state"],
                kind="shape",
            )

    def check_forecast(
        self, model: ServedModel, series: list[NDArray[np.floating[Any]]], horizon: int, steps: int
    ) -> None:
        """What every forecast must satisfy, stateless or in a sequence: a model that can
        forecast, a horizon and a size within the limits (``steps`` the network will run)."""
        if not model.can_forecast:
            raise InvalidInput(
                f"model {model.name!r} cannot forecast: forecasting needs a manifest with "
                "preprocessing and a window, and outputs as wide as the inputs",
                loc=["model"],
                kind="unsupported",
            )
        if horizon > self.settings.max_horizon:
            raise InvalidInput(
                f"horizon {horizon} exceeds the limit of {self.settings.max_horizon}",
                loc=["horizon"],
                kind="limit",
            )
        self._check_size(sum(len(s) for s in series), len(series), steps)

    def _check_series(
        self, model: ServedModel, series: list[NDArray[np.floating[Any]]], horizon: int
    ) -> NDArray[np.floating[Any]]:
        window = model.window or 0
        self.check_forecast(model, series, horizon, window + horizon)
        for index, values in enumerate(series):
            if len(values) < window:
                raise InvalidInput(
                    f"series[{index}] has {len(values)} values; model {model.name!r} reads the "
                    f"last {window}, so send at least {window}",
                    loc=["series", index],
                    kind="too_short",
                )
        return np.stack([values[-window:] for values in series])

    def _check_size(self, elements: int, batch: int, steps: int) -> None:
        limits = self.settings
        for what, value, limit in (
            ("numbers", elements, limits.max_elements),
            ("sequences", batch, limits.max_batch),
            ("steps", steps, limits.max_steps),
        ):
            if value > limit:
                raise PayloadTooLarge(f"request has {value} {what}, the limit is {limit}")
