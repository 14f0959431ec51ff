"""The sequencer on its own: it needs a predict function, the models' lookup and a store, not
the data plane."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import numpy as np
import pytest

from rnn_serve.service.engine.calls import SequenceStep
from rnn_serve.service.engine.dataplane import DataPlane
from rnn_serve.service.engine.limits import Limits
from rnn_serve.service.engine.sequences import Sequencer
from rnn_serve.service.engine.state import MemoryStore
from rnn_serve.service.engine.threads import Threads
from rnn_serve.service.errors import (
    AlreadyApplied,
    InvalidInput,
    ModelNotFound,
    SequenceEnded,
    SequenceNotFound,
    StateUnavailable,
)
from rnn_serve.service.metrics import Metrics
from rnn_serve.service.runtime.loader import load_models
from rnn_serve.service.settings import Settings
from tests.support.models import ARTIFACTS

SETTINGS = Settings(model_dir=ARTIFACTS)


def deploy(model):
    return DataPlane(SETTINGS, Metrics(), Threads(1)).deploy(model)


@pytest.fixture(scope="module")
def model():
    return deploy(load_models(ARTIFACTS, ["CPUExecutionProvider"], threads=1)["seed-demo"])


def counting_sequencer(served=(), store=None) -> tuple[Sequencer, list]:
    """A predict function whose state counts the steps it has seen, row by row; ``served``
    are the deployments the models' lookup finds."""
    calls: list = []
    by_version = {d.model.version: d for d in served}

    async def predict(deployment, inputs, state):
        calls.append(None if state is None else state.copy())
        start = np.zeros((len(inputs), 7), np.float32) if state is None else state
        return inputs, start + inputs.shape[1]

    async def forecast_from(*_):
        raise AssertionError("not a forecast")

    def resolve(name, version):
        if version not in by_version:
            raise ModelNotFound(f"model {name!r} has no version {version!r} ready")
        return by_version[version]

    limits = Limits(SETTINGS)
    store = store or MemoryStore(10, 60)
    return Sequencer(store, limits, predict, forecast_from, resolve), calls


def test_each_request_continues_from_the_state_the_last_one_left(model):
    sequencer, calls = counting_sequencer()
    inputs = np.ones((2, 3, 3), np.float32)

    async def scenario():
        await sequencer.predict(model, SequenceStep("a", start=True), inputs, None)
        found = await sequencer.predict(model, SequenceStep("a"), inputs, None)
        await sequencer.predict(model, SequenceStep("a", end=True), inputs, None)
        return found.state, found.steps

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


def test_a_sequence_stays_on_the_version_that_started_it(model):
    one, two = model, deploy(replace(model.model, version="2"))
    sequencer, _ = counting_sequencer(served=[one, two])
    inputs = np.ones((1, 2, 3), np.float32)

    async def scenario():
        await sequencer.predict(one, SequenceStep("s", start=True), inputs, None)
        # the newest version is 2 now; the request did not name one
        return await sequencer.predict(two, SequenceStep("s"), inputs, None)

    found = asyncio.run(scenario())
    assert (found.version, found.steps) == ("1", 4) and np.all(found.state == 4)
    with pytest.raises(InvalidInput, match="runs on version '1' of model 'seed-demo', not '2'"):
        asyncio.run(sequencer.predict(two, SequenceStep("s", version="2"), inputs, None))


def test_a_sequence_whose_version_is_gone_has_ended_and_says_why(model):
    two = deploy(replace(model.model, version="2"))
    sequencer, _ = counting_sequencer(served=[two])  # version 1 was unloaded
    inputs = np.ones((1, 2, 3), np.float32)
    asyncio.run(sequencer.predict(model, SequenceStep("t", start=True), inputs, None))
    with pytest.raises(SequenceEnded, match="ran on version '1' of model 'seed-demo', which is "):
        asyncio.run(sequencer.predict(two, SequenceStep("t"), inputs, None))


class FailingWrites(MemoryStore):
    """A store whose next write fails, as Redis can after the inference ran."""

    def __init__(self) -> None:
        super().__init__(10, 60)
        self.fail_next = False

    async def put(self, key, value):
        if self.fail_next:
            self.fail_next = False
            raise StateUnavailable("the sequence store cannot be reached")
        await super().put(key, value)


def test_a_repeated_idempotency_key_returns_the_first_answer_and_applies_nothing(model):
    store = FailingWrites()
    sequencer, calls = counting_sequencer(store=store)
    inputs = np.ones((1, 2, 3), np.float32)

    def send(key, start=False):
        step = SequenceStep("k", start=start, key=key)
        found = asyncio.run(sequencer.predict(model, step, inputs, None))
        return found.state, found.steps, found.version, found.replayed

    assert send("k-1", start=True)[1:] == (2, "1", False)
    assert send("k-1", start=True)[1:] == (2, "1", True)  # a retried start
    first = send("k-2")
    again = send("k-2")
    np.testing.assert_array_equal(again[0], first[0])
    assert (first[1], again[1], again[3]) == (4, 4, True)
    assert len(calls) == 2  # the retries ran nothing
    store.fail_next = True  # the final write fails: nothing was applied...
    with pytest.raises(StateUnavailable):
        send("k-3")
    assert send("k-3")[1:] == (6, "1", False)  # ...so the retry applies it, once
    with pytest.raises(AlreadyApplied, match="key 'k-2' was applied to sequence 'k' already"):
        send("k-2")  # applied, and its answer no longer kept: refused, not applied twice
    assert send(None)[1] == 8  # requests without a key go on as before
