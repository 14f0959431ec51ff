"""What the front ends call: a request's arrays, checked against its model, admitted and run.

Predictions go through the model's batcher (or straight to its runner without batching);
forecasts run their recursive roll-out on the inference threads. Everything works on arrays:
HTTP is the layer above, ONNX Runtime the one below.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from contract.forecast import forecast, observe_and_forecast
from service.engine.admission import Admission
from service.engine.batching import Batcher
from service.engine.limits import Limits, Series
from service.engine.runner import ModelRunner
from service.engine.threads import Threads
from service.errors import ModelNotFound
from service.metrics import Metrics
from service.runtime.registry import ServedModel
from service.settings import Settings

Array = NDArray[np.float32]


class DataPlane:
    def __init__(
        self,
        models: dict[str, ServedModel],
        settings: Settings,
        metrics: Metrics,
        threads: Threads,
    ) -> None:
        self.models = models
        self.metrics = metrics
        self.threads = threads
        self.limits = Limits(settings)
        self.admission = Admission(settings.max_pending, settings.inference_timeout_s)
        inline_seconds = settings.inline_inference_us / 1e6
        self.runners = {
            name: ModelRunner(
                model, threads, inline_seconds, metrics.inference.labels(name).observe
            )
            for name, model in models.items()
        }
        self.batchers = {
            name: Batcher(
                runner.run,
                runner.model.predictor.zero_state,
                settings.batch_max_sequences,
                settings.batch_max_delay_us,
                settings.inference_threads,
                metrics.batch_size.labels(name).observe,
            )
            for name, runner in self.runners.items()
            if settings.batching
        }

    def model(self, name: str) -> ServedModel:
        try:
            return self.models[name]
        except KeyError:
            known = ", ".join(sorted(self.models))
            raise ModelNotFound(f"unknown model {name!r}; loaded models: {known}") from None

    async def predict(
        self, model: ServedModel, inputs: Array, initial_state: Array | None
    ) -> tuple[Array, Array]:
        """Per-step outputs and final states of ``inputs`` from ``initial_state`` (None: zeros)."""
        self.limits.check_inputs(model, inputs, initial_state)
        batcher = self.batchers.get(model.name)
        if batcher is not None:
            return await self.admission.guarded(batcher.submit(inputs, initial_state))
        return await self.admission.guarded(self.runners[model.name].run(inputs, initial_state))

    async def forecast(
        self, model: ServedModel, series: Series, horizon: int, names: list[str] | None = None
    ) -> NDArray[Any]:
        """(n, horizon) forecasts from the last ``window`` values of each raw series (named in
        errors by ``names`` when given)."""
        windows = self.limits.windows(model, series, horizon, names)
        transform, window = model.transform_for(names), model.window
        assert transform is not None and window is not None  # checked by windows()
        run = self.runners[model.name].run_blocking
        return await self.admission.guarded(
            self.threads.run(forecast, run, transform, window, windows, horizon)
        )

    async def forecast_from(
        self,
        model: ServedModel,
        history: NDArray[Any],
        state: Array | None,
        horizon: int,
        ids: list[str] | None = None,
    ) -> tuple[NDArray[np.float64], Array]:
        """A stored sequence's next forecasts: ``history`` read from ``state``, then rolled out
        ``horizon`` steps. The caller has run ``limits.check_forecast``."""
        transform = model.transform_for(ids)
        assert transform is not None  # the caller checked that the model forecasts
        run = self.runners[model.name].run_blocking
        return await self.admission.guarded(
            self.threads.run(observe_and_forecast, run, transform, history, state, horizon)
        )

    def refresh_gauges(self) -> None:
        self.metrics.in_flight.set(self.admission.pending)
        for name, batcher in self.batchers.items():
            self.metrics.queue_depth.labels(name).set(len(batcher.queue))
