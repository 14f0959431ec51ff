"""Stateful sequences: the server carries each sequence's hidden state between requests.

A request names a sequence. With ``start`` it begins from zeros (or the initial_state given);
otherwise it continues from the stored state, which it then replaces, or deletes with ``end``.
Requests for one sequence run one at a time, in arrival order (the store's lock). A sequence
stays on the model version that started it (a state means nothing to another version's
weights): when that version is no longer served, the sequence has ended, and says why.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from rnn_serve.contract.forecast import blended
from rnn_serve.service import tracing
from rnn_serve.service.engine.calls import Forecast, Prediction, SequenceStep
from rnn_serve.service.engine.limits import Limits
from rnn_serve.service.engine.models import Deployment
from rnn_serve.service.engine.state.base import Replay, SequenceState, StateStore, key_digest
from rnn_serve.service.errors import (
    AlreadyApplied,
    IdempotencyKeyReused,
    InvalidInput,
    ModelNotFound,
    SequenceEnded,
    SequenceNotFound,
    StateUnavailable,
)
from rnn_serve.service.runtime.loader import ServedModel

Array = NDArray[np.float32]
PredictFn = Callable[[Deployment, Array, Array | None], Awaitable[tuple[Array, Array]]]
ForecastFromFn = Callable[
    [Deployment, NDArray[Any], Array | None, int, list[str] | None],
    Awaitable[tuple[NDArray[np.float64], Array]],
]
ResolveFn = Callable[[str, str | None], Deployment]  # (model, version or None: the newest)


class Sequencer:
    def __init__(
        self,
        store: StateStore,
        limits: Limits,
        predict: PredictFn,
        forecast_from: ForecastFromFn,
        resolve: ResolveFn,
    ) -> None:
        self.store = store
        self.limits = limits
        self._predict = predict
        self._forecast_from = forecast_from
        self._resolve = resolve

    async def predict(
        self, deployment: Deployment, step: SequenceStep, inputs: Array, given: Array | None
    ) -> Prediction:
        """Outputs and final state, with the steps the sequence has consumed so far, the
        version it runs on, and whether this is the stored answer of a request applied before."""
        model_name = deployment.model.name
        name = step.name(model_name)
        request = fingerprint(step, inputs, given) if step.key is not None else b""
        async with self.store.lock(name):
            known = await self._known(name, step)
            replay = _replay(step, known, request)
            if replay is not None and known is not None:
                outputs, state = replay.arrays
                return Prediction(model_name, known.version, outputs, state, replay.steps, True)
            if step.start:
                begin, seen = given, 0
            else:
                _no_state_given(given)
                stored = _continuing(known, step, deployment.model, len(inputs))
                _in_turn(stored, step)
                deployment = self._pinned(deployment, step, stored)
                begin, seen = stored.state, stored.steps
            outputs, state = await self._predict(deployment, inputs, begin)
            seen += inputs.shape[1]
            version = deployment.model.version
            keys = known.keys if known is not None else b""
            no_tail = np.zeros((len(state), 0))  # a prediction needs no raw values
            record = SequenceState(state, no_tail, seen, version, keys)
            answer = (outputs, state)
            await self._finish(name, step, _remembered(record, step, answer, request))
        return Prediction(model_name, version, outputs, state, seen)

    async def forecast(
        self,
        deployment: Deployment,
        step: SequenceStep,
        rows: list[NDArray[Any]],
        horizon: int,
        ids: list[str] | None = None,
    ) -> Forecast:
        """The next ``horizon`` forecasts after the new observations in ``rows`` (of the
        series ``ids``, when given: a model of many series scales each by its own), with the
        steps seen, the version it runs on, and whether this is a stored answer."""
        model_name = deployment.model.name
        name = step.name(model_name)
        request = b""
        if step.key is not None:
            request = fingerprint(step, *rows, np.array([horizon]), np.array(ids or [], dtype=str))
        async with self.store.lock(name):
            known = await self._known(name, step)
            replay = _replay(step, known, request)
            if replay is not None and known is not None:
                return Forecast(model_name, known.version, replay.arrays[0], replay.steps, True)
            stored = None
            if not step.start:
                stored = _continuing(known, step, deployment.model, len(rows))
                _in_turn(stored, step)
                deployment = self._pinned(deployment, step, stored)
            model = deployment.model
            self.limits.check_forecast(model, rows, horizon, len(rows[0]) + horizon)
            new = _observations(model, step, rows)
            if stored is None:
                history = new[:, -(model.window or 1) :]  # as a stateless forecast reads it
                known_values, begin, seen = history, None, -model.lag
            else:
                # The tail keeps the differencing's lag and, for a blended model, a season.
                known_values = np.concatenate([stored.tail, new], axis=1)
                lagged = min(stored.tail.shape[1], model.lag)
                history = known_values[:, known_values.shape[1] - lagged - new.shape[1] :]
                begin, seen = stored.state, stored.steps - lagged
            _holds_a_season(model, known_values)
            forecasts, state = await self._forecast_from(deployment, history, begin, horizon, ids)
            forecasts = blended(forecasts, known_values, model.blend, ids)
            seen += history.shape[1]
            tail = known_values[:, known_values.shape[1] - model.memory :]
            keys = known.keys if known is not None else b""
            record = SequenceState(state, tail, seen, model.version, keys)
            remembered = _remembered(record, step, (forecasts,), request)
            await self._finish(name, step, remembered)
        return Forecast(model_name, model.version, forecasts, seen)

    async def where(self, model: str, step: SequenceStep) -> tuple[int, str] | None:
        """The steps a live sequence has consumed and the version it runs on ("": a record
        from before versions were kept); None when it is unknown or has ended."""
        known = await self.store.get(step.name(model))
        return None if known is None or known.ended else (known.steps, known.version)

    async def describe(self) -> dict[str, Any]:
        """The store, whether it answers, and its live sequences (None while it does not):
        metadata and metrics stay up through a store outage, and say so."""
        try:
            live: int | None = await self.store.count()
        except StateUnavailable:
            live = None
        return {"store": self.store.kind, "available": live is not None, "live": live}

    async def _known(self, name: str, step: SequenceStep) -> SequenceState | None:
        """The stored record: a continuing request needs it, and so does a start that carries
        an idempotency key (it may be a retry). A sequence ended by a keyed request is kept,
        without its state, only to answer that request again: to anything else, and to a
        start, it is gone."""
        if step.start and step.key is None:
            return None
        with tracing.span("sequence store get", store=self.store.kind):
            known = await self.store.get(name)
        if known is not None and known.ended and not (step.key and known.knows(step.key)):
            return None
        return known

    def _pinned(
        self, deployment: Deployment, step: SequenceStep, stored: SequenceState
    ) -> Deployment:
        """The version the sequence started on (a record from before versions were kept
        continues on the one the request got)."""
        name, pinned = deployment.model.name, stored.version
        if not pinned or pinned == deployment.model.version:
            return deployment
        if step.version is not None:
            raise InvalidInput(
                f"sequence {step.id!r} runs on version {pinned!r} of model {name!r}, not "
                f"{step.version!r}: a sequence stays on the version that started it",
                loc=["sequence"],
            )
        try:
            return self._resolve(name, pinned)
        except ModelNotFound as error:
            raise SequenceEnded(
                f"sequence {step.id!r} ran on version {pinned!r} of model {name!r}, which is "
                f"no longer served ({error.message}); begin a new one with sequence.start: true"
            ) from None

    async def _finish(self, key: str, step: SequenceStep, value: SequenceState) -> None:
        """The new record; at an end, nothing, or, for a keyed end, the record without its
        state, so that a retry of the end gets its answer until the sequence would have
        expired (RNN_SERVE_SEQUENCE_IDLE_TIMEOUT_S)."""
        with tracing.span("sequence store write", store=self.store.kind, end=step.end):
            if not step.end:
                await self.store.put(key, value)
            elif step.key is not None:
                await self.store.put(key, value.ending())
            else:
                await self.store.delete(key)


def _continuing(
    stored: SequenceState | None, step: SequenceStep, model: ServedModel, rows: int
) -> SequenceState:
    if stored is None:
        raise SequenceNotFound(
            f"sequence {step.id!r} of model {model.name!r} is unknown or has expired; "
            "begin it with sequence.start: true"
        )
    if len(stored.state) != rows:
        raise InvalidInput(
            f"sequence {step.id!r} has {len(stored.state)} rows, this request has {rows}",
            loc=["sequence"],
        )
    return stored


def _in_turn(stored: SequenceState, step: SequenceStep) -> None:
    """A step that says which steps it follows is applied only right after them: never twice
    (a client resending what it had no answer for), and never past a gap."""
    if step.after is None or stored.steps == step.after:
        return
    if stored.steps > step.after:
        raise AlreadyApplied(
            f"sequence {step.id!r} has consumed {stored.steps} steps and this one came after "
            f"{step.after}: it was applied already"
        )
    raise InvalidInput(
        f"sequence {step.id!r} has consumed {stored.steps} steps and this one came after "
        f"{step.after}: the steps between them never arrived",
        loc=["after"],
    )


def fingerprint(step: SequenceStep, *arrays: NDArray[Any] | None) -> bytes:
    """What a request asks for, in a digest: a retry under the same idempotency key must ask
    for the same (the IETF Idempotency-Key draft, as Stripe does it)."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(repr((step.id, step.start, step.end, step.version)).encode())
    for array in arrays:
        digest.update(b"-" if array is None else repr(array.shape).encode() + array.tobytes())
    return digest.digest()


def _replay(step: SequenceStep, stored: SequenceState | None, request: bytes) -> Replay | None:
    """The stored answer when this request's key was applied already (a 422 when the key
    came with another request); a key applied before the latest one has no answer kept, and
    is refused rather than applied twice."""
    if step.key is None or stored is None or not stored.knows(step.key):
        return None
    if stored.replay is not None and stored.replay.key == step.key:
        if stored.replay.request not in (b"", request):
            raise IdempotencyKeyReused(
                f"idempotency key {step.key!r} was used for another request on sequence "
                f"{step.id!r}: a retry must repeat its request exactly; a new request needs "
                "a new key",
                loc=["header", "Idempotency-Key"],
            )
        return stored.replay
    raise AlreadyApplied(
        f"the request with idempotency key {step.key!r} was applied to sequence {step.id!r} "
        "already; only the answer of the latest keyed request is kept"
    )


def _remembered(
    record: SequenceState, step: SequenceStep, answer: tuple[NDArray[Any], ...], request: bytes
) -> SequenceState:
    """The record, with this request's key and answer when it carries a key (beside every key
    the sequence had before, already in ``record``)."""
    if step.key is None:
        return record
    replay = Replay(step.key, answer, record.steps, request)
    return replace(record, keys=record.keys + key_digest(step.key), replay=replay)


def _no_state_given(given: Array | None) -> None:
    if given is not None:
        raise InvalidInput(
            "initial_state goes only with sequence.start: the server holds this sequence's state",
            loc=["initial_state"],
        )


def _holds_a_season(model: ServedModel, known_values: NDArray[Any]) -> None:
    """A blended model's forecast reads the season before it (a sequence begun by /predict
    keeps no raw values)."""
    if model.blend is not None and known_values.shape[1] < model.blend.season:
        raise InvalidInput(
            f"model {model.name!r} blends seasonal naive into its forecasts and needs the last "
            f"{model.blend.season} values; this sequence has {known_values.shape[1]}",
            loc=["series"],
        )


def _observations(model: ServedModel, step: SequenceStep, rows: list[NDArray[Any]]) -> NDArray[Any]:
    if len({len(row) for row in rows}) != 1:
        raise InvalidInput(
            "a sequence's series must all have the same number of new values", loc=["series"]
        )
    needed = model.window if step.start else 1
    if len(rows[0]) < (needed or 1):
        raise InvalidInput(
            f"series has {len(rows[0])} values; starting a sequence of model "
            f"{model.name!r} needs at least {needed}",
            loc=["series"],
        )
    return np.stack(rows)
