"""Dynamic batching: concurrent requests coalesce into one call and each caller gets its rows."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from rnn_serve.service.engine.batching import Batcher
from rnn_serve.service.runtime.predictor import Predictor
from tests.support.models import ARTIFACTS


class Recorder:
    """Wraps a real predictor and records the batch of every call."""

    def __init__(self, fail: bool = False) -> None:
        self.predictor = Predictor.load(ARTIFACTS / "seed-demo.onnx", ["CPUExecutionProvider"])
        self.calls: list[tuple[int, int]] = []
        self.fail = fail

    def run(self, inputs, state):
        self.calls.append(inputs.shape[:2])
        if self.fail:
            raise RuntimeError("boom")
        return self.predictor.run(inputs, state)


def batcher(recorder: Recorder, max_sequences: int = 256, delay_us: int = 0) -> Batcher:
    async def run(inputs, state):
        await asyncio.sleep(0.01)  # lets the other requests queue up behind the first
        return recorder.run(inputs, state)

    return Batcher(run, recorder.predictor.zero_state, max_sequences, delay_us)


def requests(rng, steps: list[int], batch: int = 2):
    return [
        (
            rng.normal(size=(batch, s, 3)).astype(np.float32),
            rng.uniform(-1, 1, size=(batch, 7)).astype(np.float32),
        )
        for s in steps
    ]


async def submit_all(b: Batcher, reqs):
    return await asyncio.gather(*(b.submit(x, s) for x, s in reqs))


def test_concurrent_requests_coalesce_and_get_their_own_rows(rng):
    recorder = Recorder()
    reqs = requests(rng, [5] * 6)
    results = asyncio.run(submit_all(batcher(recorder), reqs))
    assert recorder.calls == [(12, 5)]  # all six were waiting when the drain began
    for (inputs, state), (outputs, final) in zip(reqs, results, strict=True):
        expected_outputs, expected_final = recorder.predictor.run(inputs, state)
        np.testing.assert_allclose(outputs, expected_outputs, atol=1e-6)
        np.testing.assert_allclose(final, expected_final, atol=1e-6)


def test_different_step_counts_are_grouped_not_mixed(rng):
    recorder = Recorder()
    reqs = requests(rng, [4, 4, 9, 4, 9])
    results = asyncio.run(submit_all(batcher(recorder), reqs))
    assert recorder.calls == [(6, 4), (4, 9)]  # the oldest request's step count goes first
    assert [r[0].shape[1] for r in results] == [4, 4, 9, 4, 9]


def test_requests_arriving_during_a_call_form_the_next_batch(rng):
    recorder = Recorder()
    b = batcher(recorder)
    reqs = requests(rng, [5] * 4)

    async def staggered():
        first = asyncio.ensure_future(b.submit(*reqs[0]))
        await asyncio.sleep(0.001)  # the first call is now running
        return await asyncio.gather(first, *(b.submit(x, s) for x, s in reqs[1:]))

    asyncio.run(staggered())
    assert recorder.calls == [(2, 5), (6, 5)]


def test_requests_queued_over_the_next_loop_turns_join_the_batch(rng):
    recorder = Recorder()
    b = batcher(recorder)

    async def after_turns(turns: int, inputs, state):
        for _ in range(turns):
            await asyncio.sleep(0)  # as a request still being read would
        return await b.submit(inputs, state)

    async def staggered():
        reqs = requests(rng, [5] * 5)
        return await asyncio.gather(*(after_turns(i, x, s) for i, (x, s) in enumerate(reqs)))

    asyncio.run(staggered())
    assert recorder.calls == [(10, 5)]


def test_row_limit_splits_batches(rng):
    recorder = Recorder()
    b = batcher(recorder, max_sequences=4)
    asyncio.run(submit_all(b, requests(rng, [3] * 5)))
    assert all(rows <= 4 for rows, _ in recorder.calls)
    assert sum(rows for rows, _ in recorder.calls) == 10
    assert b.rows_waiting == 0


def test_the_rows_waiting_are_those_of_the_queue_at_every_call(rng):
    """The count the drain decides by is kept as requests queue and batches are taken, with
    requests of other step counts and past the row limit left in the queue."""
    recorder = Recorder()
    b = batcher(recorder, max_sequences=4)
    seen = []
    run = b.run

    async def counted(inputs, state):
        seen.append((b.rows_waiting, sum(len(p.inputs) for p in b.queue)))
        return await run(inputs, state)

    b.run = counted
    asyncio.run(submit_all(b, requests(rng, [3, 5, 3, 3, 5, 3])))
    assert len(seen) == len(recorder.calls) > 2
    assert all(kept == actual for kept, actual in seen)
    assert seen[0][0] > 0 and b.rows_waiting == 0


def test_a_delay_collects_a_full_batch_first(rng):
    recorder = Recorder()
    asyncio.run(submit_all(batcher(recorder, delay_us=20_000), requests(rng, [3] * 4)))
    assert recorder.calls == [(8, 3)]


def test_missing_state_means_zeros(rng):
    recorder = Recorder()
    inputs = rng.normal(size=(2, 3, 3)).astype(np.float32)
    outputs, _ = asyncio.run(batcher(recorder).submit(inputs, None))
    np.testing.assert_allclose(outputs, recorder.predictor.run(inputs)[0], atol=1e-6)


def test_requests_with_and_without_state_share_a_call(rng):
    recorder = Recorder()
    (with_state, state), (without, _) = requests(rng, [4, 4])
    b = batcher(recorder)
    results = asyncio.run(submit_all(b, [(with_state, state), (without, None)]))
    assert recorder.calls == [(4, 4)]
    np.testing.assert_allclose(
        results[0][0], recorder.predictor.run(with_state, state)[0], atol=1e-6
    )
    np.testing.assert_allclose(results[1][0], recorder.predictor.run(without)[0], atol=1e-6)


def test_a_failed_call_fails_every_request_in_it(rng):
    b = batcher(Recorder(fail=True))
    with pytest.raises(RuntimeError, match="boom"):
        asyncio.run(submit_all(b, requests(rng, [3] * 3)))
    assert b.draining == 0 and not b.queue
