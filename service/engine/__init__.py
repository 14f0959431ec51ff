"""The engine: limits, admission, deadlines, batching, sequences and forecasting, all on arrays.

It imports the runtime below it and nothing of HTTP above it. ``service/app.py`` wires its
parts together into one ``Engine``, whose methods are all a front end calls: admission
(``admit``), what is served (``model``, ``newest``, ``describe``, ``status``), inference
(``predict``, ``forecast``, with the typed values of ``calls.py``), the repository (``index``,
``load``, ``unload``) and the metrics (``exposition``). With a sequence or without, idempotent
replays, prediction intervals and model control are the engine's business, not theirs; so is
answering a stream's calls in order (``InOrder``), for gRPC's and WebSocket streams alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from rnn_serve.service.engine.admission import Admitted, Reservation
from rnn_serve.service.engine.calls import (
    Forecast,
    ForecastCall,
    PredictCall,
    Prediction,
    SequenceStep,
)
from rnn_serve.service.engine.dataplane import DataPlane
from rnn_serve.service.engine.describe import describe
from rnn_serve.service.engine.models import Models
from rnn_serve.service.engine.scores import LiveScores
from rnn_serve.service.engine.sequences import Sequencer
from rnn_serve.service.engine.streams import InOrder, Overrun
from rnn_serve.service.engine.uncertainty import around, check_intervals
from rnn_serve.service.errors import Forbidden
from rnn_serve.service.metrics import Metrics
from rnn_serve.service.runtime.loader import ServedModel as Model
from rnn_serve.service.settings import Settings

# With calls.py, all a front end may import of the engine.
__all__ = ["Admitted", "Engine", "InOrder", "Model", "Overrun", "Reservation"]
log = logging.getLogger(__name__)
LOOP_LAG_INTERVAL_S = 0.1


@dataclass
class Engine:
    settings: Settings
    metrics: Metrics
    models: Models
    dataplane: DataPlane
    sequences: Sequencer
    scores: LiveScores | None = None  # made from the metrics when not given
    # A front end's own work per request body byte (parsing it, writing the answer), timed by
    # the front end at start-up: admission counts it beside the inference.
    front_end_s_per_byte: float = 0.0
    _tasks: list[asyncio.Task[None]] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        if self.scores is None:
            self.scores = LiveScores(self.metrics)

    def admit(
        self, body_bytes: int, model: str = "", reservation: Reservation | None = None
    ) -> Admitted:
        """Admits a request to ``model`` once its body is in, by the wait it would have, its
        body's parsing and answer counted as work of its own: an ``Overloaded`` (503) past
        the bounds, unless it holds a ``reservation``. It leaves (``Admitted.leave``) once
        answered."""
        seconds = body_bytes * self.front_end_s_per_byte
        self.dataplane.admission.admit(seconds, (model, body_bytes), reservation)
        return Admitted(self.dataplane.admission, seconds)

    def check_admission(self) -> None:
        """An ``Overloaded`` now when a request arriving now would wait past the bound:
        refused before its body is read."""
        self.dataplane.admission.check()

    def reserve(self, body_bytes: int, model: str) -> Reservation:
        """Checks a request to ``model`` that waits for 100 Continue (an ``Overloaded`` past
        the bound) and reserves the work its announced body is expected to bring, its
        inference included, until it is admitted (``admit``) or the reservation released."""
        admission = self.dataplane.admission
        inference = admission.inference_s_per_byte.get(model, 0.0)
        return admission.reserve(body_bytes * (self.front_end_s_per_byte + inference))

    # What is served

    def model(self, name: str, version: str | None = None) -> Model:
        """The version a request would get (the newest, or ``version``): a 404 if none."""
        return self.models.get(name, version).model

    def newest(self) -> list[Model]:
        """Every served model, at its newest version."""
        return [deployment.model for deployment in self.models.newest()]

    async def status(self) -> dict[str, Any]:
        """What applies to every model: the limits, and the sequence store's state."""
        return {"limits": self.settings.limits(), "sequences": await self.sequences.describe()}

    def describe(self, name: str, version: str | None = None) -> dict[str, Any]:
        """A model's metadata (its newest version, or ``version``), with every version served."""
        model = self.model(name, version)
        assert self.scores is not None
        live = self.scores.describe(model)
        return describe(model) | {"versions": self.models.versions(name), "live": live}

    async def predict(self, call: PredictCall) -> Prediction:
        deployment = self.models.get(call.model, call.version)
        if call.sequence is not None:
            return await self.sequences.predict(
                deployment, call.sequence, call.inputs, call.initial_state
            )
        model = deployment.model
        outputs, state = await self.dataplane.predict(deployment, call.inputs, call.initial_state)
        return Prediction(model.name, model.version, outputs, state)

    async def sequence(self, model: str, step: SequenceStep) -> tuple[int, str] | None:
        """Where the live sequence ``step`` names stands: the steps it has consumed and the
        version it runs on ("": unknown); None when it is unknown or has ended."""
        return await self.sequences.where(model, step)

    async def forecast(self, call: ForecastCall) -> Forecast:
        """The forecasts, and the intervals and quantiles asked for (checked before it runs:
        a model without them, or asked past their horizon, is a 422 with nothing run)."""
        deployment = self.models.get(call.model, call.version)
        model = deployment.model
        check_intervals(model, call.levels, call.quantiles, call.horizon)
        if call.sequence is not None:
            found = await self.sequences.forecast(
                deployment, call.sequence, call.series, call.horizon, call.ids
            )
            if not found.replayed:
                self._score(call, found)
        else:
            values = await self.dataplane.forecast(deployment, call.series, call.horizon, call.ids)
            found = Forecast(model.name, model.version, np.asarray(values))
        extra = around(model, found.forecasts, call.levels, call.quantiles, call.ids)
        return replace(
            found, intervals=extra.get("intervals", {}), quantiles=extra.get("quantiles", {})
        )

    def _score(self, call: ForecastCall, found: Forecast) -> None:
        """What the sequence's new observations say of the forecasts it was given before."""
        step = call.sequence
        assert step is not None and self.scores is not None
        model = self.models.get(call.model, found.version).model  # the version it runs on
        key = step.name(model.name)
        if step.end:
            self.scores.forget(key)
            return
        transform = model.transform_for(call.ids)
        observed = (
            None if step.start else np.stack([np.asarray(row, np.float64) for row in call.series])
        )
        std, log_scale = (transform.std, transform.log) if transform is not None else (1.0, False)
        self.scores.observe(model, key, observed, found.forecasts, std, log_scale)

    def start_background(self) -> None:
        """The event loop's lag monitor, and with RNN_SERVE_MODEL_CONTROL=poll the poller that
        reads the model directory again every RNN_SERVE_MODEL_POLL_S."""
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._watch_loop()))
        if self.settings.model_control == "poll":
            self._tasks.append(loop.create_task(self._poll()))

    async def _watch_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await asyncio.sleep(LOOP_LAG_INTERVAL_S)
            self.metrics.loop_lag.observe(max(loop.time() - started - LOOP_LAG_INTERVAL_S, 0.0))

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.settings.model_poll_s)
            try:
                await self.models.refresh()
            except Exception:  # a fault of one pass must not end polling
                log.exception("polling the model directory failed")

    # The repository

    def index(self) -> list[dict[str, Any]]:
        """Every version on disk or served, with its state and why."""
        return self.models.index()

    async def load(self, name: str) -> None:
        self._may_change_models()
        await self.models.load(name)

    async def unload(self, name: str) -> None:
        self._may_change_models()
        await self.models.unload(name)

    def _may_change_models(self) -> None:
        """Load and unload only when the operator turned model control to explicit, as in
        Triton; under none and poll they are refused, naming the setting."""
        control = self.settings.model_control
        if control != "explicit":
            raise Forbidden(
                f"loading and unloading models is off: RNN_SERVE_MODEL_CONTROL is {control!r}; "
                "the operator can start the server with RNN_SERVE_MODEL_CONTROL=explicit"
            )

    # Operations

    async def exposition(self) -> bytes:
        """The Prometheus metrics, gauges read now; a store outage shows as a gauge, never
        as an error."""
        await self.refresh_metrics()
        return self.metrics.exposition()

    async def refresh_metrics(self) -> dict[str, Any]:
        """Gauges read at scrape time; the store's may be unavailable, and the scrape still
        succeeds, saying so. Returns the store's state."""
        self.dataplane.refresh_gauges(self.models.all())
        status = await self.sequences.describe()
        self.metrics.store_available.labels(status["store"]).set(int(status["available"]))
        if status["live"] is not None:
            self.metrics.sequences.labels(status["store"]).set(status["live"])
        return status

    async def server_figures(self, quiet: frozenset[str]) -> dict[str, Any]:
        """The console's server panel (Metrics.snapshot), with the models and the sequences."""
        sequences = await self.refresh_metrics()
        models = len(self.newest())
        return self.metrics.snapshot(quiet) | {"models": models, "sequences": sequences}

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.sequences.store.close()
        self.dataplane.threads.shutdown()
