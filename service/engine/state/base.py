"""The store interface, the stored record, and per-key locks that keep arrival order."""

from __future__ import annotations

import asyncio
import collections
import hashlib
import io
import struct
from abc import ABC, abstractmethod
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

_HEADER = struct.Struct("<IIIq")  # rows, hidden, tail length, steps seen
_LENGTH = struct.Struct("<I")
KEY_DIGEST_BYTES = 8  # per idempotency key a sequence has seen: enough to tell them apart


@dataclass(frozen=True)
class Replay:
    """The answer of a sequence's latest request that carried an idempotency key: its arrays
    and the steps seen then, returned again, unapplied, when that key comes back."""

    key: str
    arrays: tuple[NDArray[Any], ...]
    steps: int
    request: bytes = b""  # the request's digest (b"": a record from before digests were kept)


@dataclass(frozen=True, slots=True)  # no __dict__ per live sequence: 48 bytes of ~740
class SequenceState:
    """A sequence between two requests: its hidden state, the last raw observations a
    forecast needs for differencing (``tail``), how many steps it has consumed, the model
    version it runs on, the digests of every idempotency key applied to it, and the latest
    such request's answer. One record, written at once: a key is known exactly when its steps
    are applied."""

    state: NDArray[np.float32]  # (rows, hidden)
    tail: NDArray[np.float64]  # (rows, lag): the raw values the next differences need
    steps: int
    version: str = ""  # "": a record written before versions were kept
    keys: bytes = b""  # KEY_DIGEST_BYTES per key applied
    replay: Replay | None = None

    @property
    def ended(self) -> bool:
        """Ended by a keyed request, and kept only to answer it again (no rows of state)."""
        return len(self.state) == 0

    def ending(self) -> SequenceState:
        return replace(self, state=self.state[:0], tail=self.tail[:0])

    def knows(self, key: str) -> bool:
        digest = key_digest(key)
        return any(
            self.keys[i : i + KEY_DIGEST_BYTES] == digest
            for i in range(0, len(self.keys), KEY_DIGEST_BYTES)
        )

    def to_bytes(self) -> bytes:
        """The header, the state, the tail, then (length-prefixed) the version, the key
        digests and the replay. A record of the previous release ends after the tail."""
        rows, hidden = self.state.shape
        parts = [
            _HEADER.pack(rows, hidden, self.tail.shape[1], self.steps),
            self.state.astype("<f4", copy=False).tobytes(),
            self.tail.astype("<f8", copy=False).tobytes(),
            _framed(self.version.encode()),
            _framed(self.keys),
        ]
        if self.replay is not None:
            key = self.replay.key.encode() + b"\0" + self.replay.request  # keys are printable
            parts += [_framed(key), struct.pack("<q", self.replay.steps)]
            parts += [_framed(_npy(array)) for array in self.replay.arrays]
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, blob: bytes) -> SequenceState:
        """The arrays are read-only views of ``blob``: nothing changes a stored state."""
        rows, hidden, tail, steps = _HEADER.unpack_from(blob)
        offset = _HEADER.size
        state = np.frombuffer(blob, "<f4", rows * hidden, offset).reshape(rows, hidden)
        offset += state.nbytes
        values = np.frombuffer(blob, "<f8", rows * tail, offset).reshape(rows, tail)
        offset += values.nbytes
        if offset == len(blob):
            return cls(state, values, steps)  # the previous release's record
        version, offset = _unframed(blob, offset)
        keys, offset = _unframed(blob, offset)
        replay = None
        if offset < len(blob):
            key, offset = _unframed(blob, offset)
            (replay_steps,) = struct.unpack_from("<q", blob, offset)
            offset += 8
            arrays = []
            while offset < len(blob):
                raw, offset = _unframed(blob, offset)
                arrays.append(np.load(io.BytesIO(raw), allow_pickle=False))
            key, _, request = key.partition(b"\0")
            replay = Replay(key.decode(), tuple(arrays), replay_steps, request)
        return cls(state, values, steps, version.decode(), keys, replay)


def key_digest(key: str) -> bytes:
    return hashlib.blake2b(key.encode(), digest_size=KEY_DIGEST_BYTES).digest()


def _framed(data: bytes) -> bytes:
    return _LENGTH.pack(len(data)) + data


def _unframed(blob: bytes, offset: int) -> tuple[bytes, int]:
    (length,) = _LENGTH.unpack_from(blob, offset)
    start = offset + _LENGTH.size
    return blob[start : start + length], start + length


def _npy(array: NDArray[Any]) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


class StateStore(ABC):
    """Async key-value storage of SequenceState, plus a lock per key."""

    kind: str

    def __init__(self) -> None:
        self._waiting: dict[str, collections.deque[asyncio.Future[None]]] = {}  # held keys

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

    def lock(self, key: str) -> AbstractAsyncContextManager[None]:
        """Requests for one key run one at a time, in arrival order."""
        return _KeyLock(self._waiting, key)


class _KeyLock:
    """Held by one request of a key, the others waiting in arrival order. An uncontended key
    costs a dict entry and no lock object: most steps meet no other request of theirs."""

    __slots__ = ("key", "waiting")

    def __init__(self, waiting: dict[str, collections.deque[asyncio.Future[None]]], key: str):
        self.waiting, self.key = waiting, key

    async def __aenter__(self) -> None:
        queue = self.waiting.get(self.key)
        if queue is None:
            self.waiting[self.key] = collections.deque()
            return
        turn = asyncio.get_running_loop().create_future()
        queue.append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():  # handed over as it was cancelled
                self._next()
            elif turn in queue:
                queue.remove(turn)
            raise

    async def __aexit__(self, *exc: object) -> None:
        self._next()

    def _next(self) -> None:
        queue = self.waiting[self.key]
        while queue:
            turn = queue.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        del self.waiting[self.key]
