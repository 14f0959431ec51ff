"""Stateful sequences: the server carries each sequence's hidden state between requests.

A request names a sequence. With ``start`` it begins from zeros (or the initial_state given);
otherwise it continues from the stored state, which it then replaces, or deletes with ``end``.
Requests for one sequence run one at a time, in arrival order (the store's lock).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from service.engine.limits import Limits
from service.engine.state.base import SequenceState, StateStore
from service.errors import InvalidInput, SequenceNotFound, StateUnavailable
from service.runtime.registry import ServedModel

Array = NDArray[np.float32]
PredictFn = Callable[[ServedModel, Array, Array | None], Awaitable[tuple[Array, Array]]]
ForecastFromFn = Callable[
    [ServedModel, NDArray[Any], Array | None, int, list[str] | None],
    Awaitable[tuple[NDArray[np.float64], Array]],
]


@dataclass(frozen=True, slots=True)
class SequenceStep:
    """Which sequence a request belongs to, and whether it begins or ends it."""

    id: str
    start: bool = False
    end: bool = False


class Sequencer:
    def __init__(
        self,
        store: StateStore,
        limits: Limits,
        predict: PredictFn,
        forecast_from: ForecastFromFn,
    ) -> None:
        self.store = store
        self.limits = limits
        self._predict = predict
        self._forecast_from = forecast_from

    async def predict(
        self, model: ServedModel, step: SequenceStep, inputs: Array, initial_state: Array | None
    ) -> tuple[Array, Array, int]:
        """Outputs, final state, and the steps the sequence has consumed so far."""
        key = f"{model.name}/{step.id}"
        async with self.store.lock(key):
            begin, seen = await self._begin(key, step, model, len(inputs), initial_state)
            outputs, state = await self._predict(model, inputs, begin)
            seen += inputs.shape[1]
            await self._finish(key, step, SequenceState(state, np.zeros((len(state), 0)), seen))
        return outputs, state, seen

    async def forecast(
        self,
        model: ServedModel,
        step: SequenceStep,
        rows: list[NDArray[Any]],
        horizon: int,
        ids: list[str] | None = None,
    ) -> tuple[NDArray[np.float64], int]:
        """The next ``horizon`` forecasts after the new observations in ``rows`` (of the
        series ``ids``, when given: a model of many series scales each by its own)."""
        key = f"{model.name}/{step.id}"
        self.limits.check_forecast(model, rows, horizon, len(rows[0]) + horizon)
        new = _observations(model, step, rows)
        lag = model.lag
        async with self.store.lock(key):
            stored, seen = await self._stored(key, step, model, len(new))
            if stored is None:
                history = new[:, -(model.window or 1) :]  # as a stateless forecast reads it
            else:
                history = np.concatenate([stored.tail, new], axis=1)
            begin = None if stored is None else stored.state
            forecasts, state = await self._forecast_from(model, history, begin, horizon, ids)
            seen += history.shape[1] - (lag if stored is None else stored.tail.shape[1])
            tail = history[:, history.shape[1] - lag :]
            await self._finish(key, step, SequenceState(state, tail, seen))
        return forecasts, seen

    async def describe(self) -> dict[str, Any]:
        """The store, whether it answers, and its live sequences (None while it does not):
        metadata and metrics stay up through a store outage, and say so."""
        try:
            live: int | None = await self.store.count()
        except StateUnavailable:
            live = None
        return {"store": self.store.kind, "available": live is not None, "live": live}

    async def _begin(
        self, key: str, step: SequenceStep, model: ServedModel, rows: int, given: Array | None
    ) -> tuple[Array | None, int]:
        if step.start:
            return given, 0
        if given is not None:
            raise InvalidInput(
                "initial_state goes only with sequence.start: the server holds this sequence's "
                "state",
                loc=["initial_state"],
            )
        stored, seen = await self._stored(key, step, model, rows)
        assert stored is not None
        return stored.state, seen

    async def _stored(
        self, key: str, step: SequenceStep, model: ServedModel, rows: int
    ) -> tuple[SequenceState | None, int]:
        if step.start:
            return None, 0
        stored = await self.store.get(key)
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
        return stored, stored.steps

    async def _finish(self, key: str, step: SequenceStep, value: SequenceState) -> None:
        if step.end:
            await self.store.delete(key)
        else:
            await self.store.put(key, value)


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
