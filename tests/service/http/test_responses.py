"""Answers in JSON: small ones written on the event loop, large ones in a worker process, the
same bytes either way."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

from rnn_serve.service.http.responses import (
    INLINE_ANSWER_NUMBERS,
    json_answer,
    json_response,
    numbers,
)


class RecordingWorkers:
    """Runs calls inline, and notes them."""

    def __init__(self) -> None:
        self.calls: list[Any] = []

    async def run(self, fn: Any, *args: Any) -> Any:
        self.calls.append(fn)
        return fn(*args)


def test_numbers_counts_arrays_and_lists_without_reading_each_value():
    payload = {
        "outputs": np.zeros((4, 5, 7), np.float32),
        "intervals": {"80": {"lower": [[1.0, 2.0], [3.0, 4.0]], "upper": [1.0, 2.0]}},
        "model": "co2",
    }
    assert numbers(payload) == 140 + 4 + 2 + 1


def test_a_large_answer_is_written_in_a_worker_and_a_small_one_inline():
    workers = RecordingWorkers()
    rows = INLINE_ANSWER_NUMBERS // 100 + 1
    large = {"model": "m", "outputs": np.random.default_rng(0).normal(size=(rows, 100))}
    small = {"model": "m", "outputs": np.ones((2, 3), np.float32)}
    written = asyncio.run(json_answer(workers, large))  # type: ignore[arg-type]
    assert len(workers.calls) == 1
    assert written.body == json_response(large).body
    assert written.headers["content-type"] == "application/json"
    asyncio.run(json_answer(workers, small))  # type: ignore[arg-type]
    assert len(workers.calls) == 1
