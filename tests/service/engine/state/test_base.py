"""The stored record of a sequence, as Redis holds it between requests and replicas."""

from __future__ import annotations

import asyncio

import numpy as np

from rnn_serve.service.engine.state.base import Replay, SequenceState, key_digest
from rnn_serve.service.engine.state.memory import MemoryStore


def test_a_record_round_trips_with_its_version():
    record = SequenceState(
        np.arange(6, dtype=np.float32).reshape(2, 3), np.array([[1.5], [2.5]]), 41, "12"
    )
    back = SequenceState.from_bytes(record.to_bytes())
    np.testing.assert_array_equal(back.state, record.state)
    np.testing.assert_array_equal(back.tail, record.tail)
    assert (back.steps, back.version) == (41, "12")


def test_a_record_keeps_its_keys_and_the_latest_answer():
    answer = (np.ones((1, 4, 7), np.float32), np.full((1, 7), 2, np.float32))
    record = SequenceState(
        np.ones((1, 7), np.float32), np.zeros((1, 0)), 4, "1",
        key_digest("a") + key_digest("b"), Replay("b", answer, 4),
    )  # fmt: skip
    back = SequenceState.from_bytes(record.to_bytes())
    assert back.knows("a") and back.knows("b") and not back.knows("c")
    assert back.replay is not None and (back.replay.key, back.replay.steps) == ("b", 4)
    for found, expected in zip(back.replay.arrays, answer, strict=True):
        assert found.dtype == expected.dtype
        np.testing.assert_array_equal(found, expected)


def test_a_record_of_the_previous_release_reads_without_version_or_keys():
    record = SequenceState(np.ones((1, 2), np.float32), np.zeros((1, 1)), 3, "7", key_digest("a"))
    older = record.to_bytes()[: 20 + 8 + 8]  # header, state, tail: what that release wrote
    back = SequenceState.from_bytes(older)
    assert (back.version, back.keys, back.replay, back.steps) == ("", b"", None, 3)


def test_a_key_is_held_by_one_request_at_a_time_in_arrival_order_and_a_cancelled_one_leaves():
    store = MemoryStore(10, 60)
    order: list[int] = []

    async def request(number: int) -> None:
        async with store.lock("k"):
            order.append(number)
            await asyncio.sleep(0.01)
            order.append(number)

    async def run() -> None:
        tasks = [asyncio.create_task(request(n)) for n in range(4)]
        await asyncio.sleep(0.001)
        tasks[2].cancel()  # waiting for its turn: it leaves the queue, the others go on
        async with store.lock("other"):  # another key is not held up
            pass
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(run())
    assert order == [0, 0, 1, 1, 3, 3]
    assert store._waiting == {}  # every key freed
