"""The memory store's cost per live sequence, measured: the bytes docs/sequences.md states."""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
import uuid

import numpy as np

from rnn_serve.service.engine.state.base import SequenceState
from rnn_serve.service.engine.state.memory import MemoryStore

BYTES_PER_SEQUENCE = 760  # a co2 sequence: 32 floats of state, a tail of 1, one key digest


def test_a_live_sequence_of_co2_costs_under_the_stated_bytes():
    async def fill(store: MemoryStore, count: int) -> None:
        for _ in range(count):
            record = SequenceState(
                np.zeros((1, 32), np.float32), np.zeros((1, 1)), 10, "1", bytes(8)
            )
            await store.put(f"co2/{uuid.uuid4().hex}", record)

    store, count = MemoryStore(10**6, 3600), 20_000
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        asyncio.run(fill(store, count))
        per_sequence = (tracemalloc.get_traced_memory()[0] - before) / count
    finally:
        tracemalloc.stop()
    assert per_sequence < BYTES_PER_SEQUENCE, f"{per_sequence:.0f} bytes per live sequence"
