"""Stateful sequences: the server carries each sequence's hidden state between requests.

A request names a sequence. With ``start`` it begins from zeros (or the initial_state given);
otherwise it continues from the stored state, which it then replaces, or deletes with ``end``.
Requests for one sequence run one at a time, in arrival order (the store's lock).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from service.errors import InvalidInput, SequenceNotFound
from service.inference.forecast import observe_and_forecast
from service.inference.registry import ServedModel
from service.state.base import SequenceState, StateStore

if TYPE_CHECKING:
    from service.dataplane import DataPlane

Array = NDArray[np.float32]


class SequenceSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=256, description="Chosen by the client.")
    start: bool = Field(default=False, description="Begin (or restart) the sequence.")
    end: bool = Field(default=False, description="Forget the sequence after this request.")


class Sequencer:
    def __init__(self, store: StateStore, dataplane: DataPlane) -> None:
        self.store = store
        self.dataplane = dataplane

    async def predict(
        self, model: ServedModel, spec: SequenceSpec, inputs: Array, initial_state: Array | None
    ) -> tuple[Array, Array, int]:
        """Outputs, final state, and the steps the sequence has consumed so far."""
        key = f"{model.name}/{spec.id}"
        async with self.store.lock(key):
            begin, seen = await self._begin(key, spec, model, len(inputs), initial_state)
            outputs, state = await self.dataplane.predict(model, inputs, begin)
            seen += inputs.shape[1]
            await self._finish(key, spec, SequenceState(state, np.zeros((len(state), 0)), seen))
        return outputs, state, seen

    async def forecast(
        self, model: ServedModel, spec: SequenceSpec, rows: list[NDArray[Any]], horizon: int
    ) -> tuple[NDArray[np.float64], int]:
        """The next ``horizon`` forecasts after the new observations in ``rows``."""
        key = f"{model.name}/{spec.id}"
        self.dataplane.check_forecast(model, rows, horizon, len(rows[0]) + horizon)
        new = self._observations(model, spec, rows)
        transform, difference = model.transform, model.manifest.preprocessing.difference  # type: ignore[union-attr]
        assert transform is not None  # _observations checked that the model forecasts
        async with self.store.lock(key):
            stored, seen = await self._stored(key, spec, model, len(new))
            if stored is None:
                history = new[:, -(model.window or 1) :]  # as a stateless forecast reads it
            else:
                history = np.concatenate([stored.tail, new], axis=1)
            begin = None if stored is None else stored.state
            forecasts, state = await self.dataplane.guarded(
                self.dataplane.off_loop(
                    observe_and_forecast,
                    self.dataplane.runs[model.name],
                    transform,
                    history,
                    begin,
                    horizon,
                )
            )
            seen += history.shape[1] - (difference if stored is None else stored.tail.shape[1])
            tail = history[:, history.shape[1] - difference :]
            await self._finish(key, spec, SequenceState(state, tail, seen))
        return forecasts, seen

    async def describe(self) -> dict[str, Any]:
        return {"store": self.store.kind, "live": await self.store.count()}

    async def _begin(
        self, key: str, spec: SequenceSpec, model: ServedModel, rows: int, given: Array | None
    ) -> tuple[Array | None, int]:
        if spec.start:
            return given, 0
        if given is not None:
            raise InvalidInput(
                "initial_state goes only with sequence.start: the server holds this sequence's "
                "state",
                loc=["initial_state"],
            )
        stored, seen = await self._stored(key, spec, model, rows)
        assert stored is not None
        return stored.state, seen

    async def _stored(
        self, key: str, spec: SequenceSpec, model: ServedModel, rows: int
    ) -> tuple[SequenceState | None, int]:
        if spec.start:
            return None, 0
        stored = await self.store.get(key)
        if stored is None:
            raise SequenceNotFound(
                f"sequence {spec.id!r} of model {model.name!r} is unknown or has expired; "
                "begin it with sequence.start: true"
            )
        if len(stored.state) != rows:
            raise InvalidInput(
                f"sequence {spec.id!r} has {len(stored.state)} rows, this request has {rows}",
                loc=["sequence"],
            )
        return stored, stored.steps

    async def _finish(self, key: str, spec: SequenceSpec, value: SequenceState) -> None:
        if spec.end:
            await self.store.delete(key)
        else:
            await self.store.put(key, value)

    @staticmethod
    def _observations(
        model: ServedModel, spec: SequenceSpec, rows: list[NDArray[Any]]
    ) -> NDArray[Any]:
        if len({len(row) for row in rows}) != 1:
            raise InvalidInput(
                "a sequence's series must all have the same number of new values",
                loc=["series"],
            )
        needed = model.window if spec.start else 1
        if len(rows[0]) < (needed or 1):
            raise InvalidInput(
                f"series has {len(rows[0])} values; starting a sequence of model "
                f"{model.name!r} needs at least {needed}",
                loc=["series"],
            )
        return np.stack(rows)
