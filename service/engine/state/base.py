"""The store interface, the stored record, and per-key locks that keep arrival order."""

from __future__ import annotations

import asyncio
import struct
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

_HEADER = struct.Struct("<IIIq")  # rows, hidden, tail length, steps seen


@dataclass(frozen=True)
class SequenceState:
    """A sequence between two requests: its hidden state, the last raw observations a
    forecast needs for differencing (``tail``), how many steps it has consumed, and the model
    version it runs on."""

    state: NDArray[np.float32]  # (rows, hidden)
    tail: NDArray[np.float64]  # (rows, lag): the raw values the next differences need
    steps: int
    version: str = ""  # "": a record written before versions were kept

    def to_bytes(self) -> bytes:
        """The header, the state, the tail, then the version's UTF-8 to the end (so records
        written before it existed read as version "")."""
        rows, hidden = self.state.shape
        header = _HEADER.pack(rows, hidden, self.tail.shape[1], self.steps)
        arrays = self.state.astype("<f4").tobytes() + self.tail.astype("<f8").tobytes()
        return header + arrays + self.version.encode()

    @classmethod
    def from_bytes(cls, blob: bytes) -> SequenceState:
        rows, hidden, tail, steps = _HEADER.unpack_from(blob)
        offset = _HEADER.size
        state = np.frombuffer(blob, "<f4", rows * hidden, offset).reshape(rows, hidden)
        offset += state.nbytes
        values = np.frombuffer(blob, "<f8", rows * tail, offset).reshape(rows, tail)
        version = blob[offset + values.nbytes :].decode()
        return cls(state.astype(np.float32), values.astype(np.float64), steps, version)


class StateStore(ABC):
    """Async key-value storage of SequenceState, plus a lock per key."""

    kind: str

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @abstractmethod
    async def get(self, key: str) -> SequenceState | None: ...

    @abstractmethod
    async def put(self, key: str, value: SequenceState) -> None: ...

    @abstractmethod
    async def delete(self, key: str) -> None: ...

    @abstractmethod
    async def count(self) -> int: ...

    async def close(self) -> None:
        return None

    @asynccontextmanager
    async def lock(self, key: str) -> AsyncIterator[None]:
        """Requests for one key run one at a time, in arrival order (asyncio.Lock is FIFO)."""
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)
