"""What the front ends call: a request's arrays, checked against its model, admitted and run.

A request brings the deployment (the model version, its runner and batcher) it started on.
Predictions go through its batcher (or straight to its runner without batching);
forecasts run their recursive roll-out on the inference threads. Everything works on arrays:
HTTP is the layer above, ONNX Runtime the one below.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from rnn_serve.contract.forecast import blended, forecast, observe_and_forecast
from rnn_serve.service import tracing
from rnn_serve.service.engine.admission import Admission
from rnn_serve.service.engine.batching import Batcher
from rnn_serve.service.engine.limits import Limits, Series
from rnn_serve.service.engine.models import Deployment
from rnn_serve.service.engine.runner import ModelRunner
from rnn_serve.service.engine.threads import Threads
from rnn_serve.service.metrics import Metrics
from rnn_serve.service.runtime.loader import ServedModel
from rnn_serve.service.settings import Settings

Array = NDArray[np.float32]


class DataPlane:
    def __init__(self, settings: Settings, metrics: Metrics, threads: Threads) -> None:
        self.settings = settings
        self.metrics = metrics
        self.threads = threads
        self.limits = Limits(settings)
        self.admission = Admission(
            settings.max_pending,
            settings.inference_timeout_s,
            settings.max_queue_ms / 1000,
            settings.inference_threads,
        )

    def deploy(self, model: ServedModel) -> Deployment:
        """A loaded version with its runner, and its batcher when batching is on."""
        settings, name = self.settings, model.name
        # each device's counter looked up once here, not on every call
        predictors = filter(None, (model.predictor, model.predictor.beside))
        calls = {p.device: self.metrics.device_calls.labels(name, p.device) for p in predictors}
        runner = ModelRunner(
            model,
            self.threads,
            settings.inline_inference_s(),
            self.metrics.inference.labels(name).observe,
            lambda device: calls[device].inc(),
        )
        batcher = (
            Batcher(
                runner.run,
                model.predictor.zero_state,
                settings.batch_max_sequences,
                settings.batch_max_delay_us,
                settings.inference_threads,
                self.metrics.batch_size.labels(name).observe,
                lambda rows, steps: model.predictor.device_for(rows, steps).device,
            )
            if settings.batching
            else None
        )
        return Deployment(model, runner, batcher)

    def predict(
        self, deployment: Deployment, inputs: Array, initial_state: Array | None
    ) -> Awaitable[tuple[Array, Array]]:
        """Per-step outputs and final states of ``inputs`` from ``initial_state`` (None: zeros),
        checked now and awaited by the caller (a coroutine less around every inference)."""
        self.limits.check_inputs(deployment.model, inputs, initial_state)
        seconds = _expected_s(deployment, len(inputs), inputs.shape[1])
        if deployment.batcher is not None:
            run = deployment.batcher.submit(inputs, initial_state)
        else:
            run = deployment.runner.run(inputs, initial_state)
            if tracing.ON:
                rows, steps = inputs.shape[:2]
                device = deployment.model.predictor.device_for(rows, steps).device
                run = tracing.around(run, "inference", rows=rows, steps=steps, device=device)
        return self.admission.guarded(run, seconds)

    async def forecast(
        self,
        deployment: Deployment,
        series: Series,
        horizon: int,
        names: list[str] | None = None,
    ) -> NDArray[Any]:
        """(n, horizon) forecasts from the last ``window`` values of each raw series (named in
        errors by ``names`` when given)."""
        model = deployment.model
        windows = self.limits.windows(model, series, horizon, names)
        transform, window = model.transform_for(names), model.window
        assert transform is not None and window is not None  # checked by windows()
        run = deployment.runner.run_blocking
        seconds = _expected_s(deployment, len(windows), window, horizon)
        with tracing.span("forecast", rows=len(windows), window=window, horizon=horizon):
            found = await self.admission.guarded(
                self.threads.run(forecast, run, transform, window, windows, horizon), seconds
            )
        return blended(found, windows, model.blend, names)

    async def forecast_from(
        self,
        deployment: Deployment,
        history: NDArray[Any],
        state: Array | None,
        horizon: int,
        ids: list[str] | None = None,
    ) -> tuple[NDArray[np.float64], Array]:
        """A stored sequence's next forecasts: ``history`` read from ``state``, then rolled out
        ``horizon`` steps. The caller has run ``limits.check_forecast``."""
        transform = deployment.model.transform_for(ids)
        assert transform is not None  # the caller checked that the model forecasts
        run = deployment.runner.run_blocking
        seconds = _expected_s(deployment, len(history), history.shape[1], horizon)
        with tracing.span("forecast", rows=len(history), steps=history.shape[1], horizon=horizon):
            return await self.admission.guarded(
                self.threads.run(observe_and_forecast, run, transform, history, state, horizon),
                seconds,
            )

    def refresh_gauges(self, deployments: list[Deployment]) -> None:
        self.metrics.in_flight.set(self.admission.pending)
        backlog = self.admission.backlog_s
        self.metrics.queued_work.set(backlog if backlog > 1e-9 else 0.0)  # no float dust, no -0.0
        reserved = self.admission.reserved_s
        self.metrics.reserved_work.set(reserved if reserved > 1e-9 else 0.0)
        waiting: dict[str, int] = {}
        for deployment in deployments:
            if deployment.batcher is not None:
                name = deployment.model.name
                waiting[name] = waiting.get(name, 0) + len(deployment.batcher.queue)
        for name, depth in waiting.items():
            self.metrics.queue_depth.labels(name).set(depth)


def _expected_s(deployment: Deployment, rows: int, steps: int, horizon: int = 0) -> float:
    """What the model's cost model expects the inference to take: ``steps`` read, then
    ``horizon`` forecast one step at a time (0 before its warm-up has timed it)."""
    predictor = deployment.model.predictor
    read = predictor.expected_s(rows, steps)
    if read is None or not horizon:
        return read or 0.0
    step = predictor.expected_s(rows, 1)
    return 0.0 if step is None else read + horizon * step
