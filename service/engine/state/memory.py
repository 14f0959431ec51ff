"""The default store: this process's memory, bounded in count, with an idle timeout."""

from __future__ import annotations

import time
from collections import OrderedDict

from rnn_serve.service.engine.state.base import SequenceState, StateStore


class MemoryStore(StateStore):
    kind = "memory"

    def __init__(self, max_sequences: int, idle_timeout_s: float) -> None:
        super().__init__()
        self.max_sequences = max_sequences
        self.idle_timeout_s = idle_timeout_s
        self._items: OrderedDict[str, tuple[SequenceState, float]] = OrderedDict()

    async def get(self, key: str) -> SequenceState | None:
        self._expire()
        item = self._items.get(key)
        return item[0] if item else None

    async def put(self, key: str, value: SequenceState) -> None:
        self._items[key] = (value, time.monotonic())
        self._items.move_to_end(key)
        while len(self._items) > self.max_sequences:  # the least recently used goes first
            self._items.popitem(last=False)

    async def delete(self, key: str) -> None:
        self._items.pop(key, None)

    async def count(self) -> int:
        self._expire()
        return len(self._items)

    def _expire(self) -> None:
        deadline = time.monotonic() - self.idle_timeout_s
        while self._items:
            key, (_, used) = next(iter(self._items.items()))
            if used > deadline:
                return
            del self._items[key]
