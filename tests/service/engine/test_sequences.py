"""The sequencer on its own: it needs a predict function and a store, not the data plane."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from service.engine.limits import Limits
from service.engine.sequences import Sequencer, SequenceStep
from service.engine.state import MemoryStore
from service.errors import InvalidInput, SequenceNotFound
from service.runtime.registry import load_models
from service.settings import Settings
from tests.conftest import ARTIFACTS


@pytest.fixture(scope="module")
def model():
    return load_models(ARTIFACTS, ["CPUExecutionProvider"], threads=1)["seed-demo"]


def counting_sequencer() -> tuple[Sequencer, list]:
    """A predict function whose state counts the steps it has seen, row by row."""
    calls: list = []

    async def predict(model, inputs, state):
        calls.append(None if state is None else state.copy())
        start = np.zeros((len(inputs), 7), np.float32) if state is None else state
        return inputs, start + inputs.shape[1]

    async def forecast_from(*_):
        raise AssertionError("not a forecast")

    limits = Limits(Settings(model_dir=ARTIFACTS))
    return Sequencer(MemoryStore(10, 60), limits, predict, forecast_from), calls


def test_each_request_continues_from_the_state_the_last_one_left(model):
    sequencer, calls = counting_sequencer()
    inputs = np.ones((2, 3, 3), np.float32)

    async def scenario():
        await sequencer.predict(model, SequenceStep("a", start=True), inputs, None)
        _, state, seen = await sequencer.predict(model, SequenceStep("a"), inputs, None)
        _, _, _ = await sequencer.predict(model, SequenceStep("a", end=True), inputs, None)
        return state, seen

    state, seen = asyncio.run(scenario())
    assert seen == 6 and np.all(state == 6)
    assert calls[0] is None and np.all(calls[1] == 3) and np.all(calls[2] == 6)
    with pytest.raises(SequenceNotFound, match="'a' of model 'seed-demo' is unknown"):
        asyncio.run(sequencer.predict(model, SequenceStep("a"), inputs, None))


def test_a_continuing_request_must_match_the_rows_and_bring_no_state(model):
    sequencer, _ = counting_sequencer()
    two, three = np.ones((2, 1, 3), np.float32), np.ones((3, 1, 3), np.float32)
    asyncio.run(sequencer.predict(model, SequenceStep("b", start=True), two, None))
    with pytest.raises(InvalidInput, match="has 2 rows, this request has 3"):
        asyncio.run(sequencer.predict(model, SequenceStep("b"), three, None))
    with pytest.raises(InvalidInput, match=r"initial_state goes only with sequence\.start"):
        asyncio.run(sequencer.predict(model, SequenceStep("b"), two, np.zeros((2, 7), np.float32)))
