"""A Redis store, so several replicas or workers can continue the same sequence.

Each sequence is one key holding one blob, written with a single SET, so a request either
leaves the previous state or the next one, never half of each. A lock key (SET NX PX, freed by
a compare-and-delete) keeps two replicas from applying requests of one sequence at once. A step
takes two round trips: the first takes the lock and reads the state, the second writes the next
state and frees the lock in one script (they were four: lock, read, write, unlock). Outside a
cluster the commands go over one pipelined connection (``link.Link``), which the steps of
every sequence share.

``RNN_SERVE_STATE_URL`` names one server (``redis://``, ``rediss://``), a cluster
(``redis+cluster://host:port``, found from any node; a sequence's keys share a hash tag, so
they live in one slot) or a master its sentinels follow across failovers
(``redis+sentinel://host:port[,host:port...]/master-name``).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import secrets
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from redis import asyncio as redis
from redis.asyncio.sentinel import Sentinel
from redis.exceptions import NoScriptError, RedisError

from rnn_serve.service.engine.state.base import SequenceState, StateStore
from rnn_serve.service.engine.state.link import Link
from rnn_serve.service.errors import StateUnavailable

log = logging.getLogger(__name__)
PREFIX = "rnn-serve:seq:"
LOCKS = PREFIX + "lock:"
LOCK_KEYS = LOCKS.encode()  # how SCAN returns them
CLUSTER, SENTINEL = "redis+cluster", "redis+sentinel"
TIMEOUT_S = 1.0  # to connect, and for an answer
WRITTEN = 10_000  # records kept to skip parsing them again: about 3 MB


@dataclass(frozen=True)
class Script:
    """A Lua script, sent by its SHA1 once Redis knows it (EVALSHA), by its body before."""

    body: str
    keys: int

    @cached_property
    def sha(self) -> str:
        return hashlib.sha1(self.body.encode()).hexdigest()

    def eval(self, *arguments: Any) -> tuple[Any, ...]:
        return ("EVAL", self.body, self.keys, *arguments)


# KEYS: the lock; ARGV: the token
RELEASE = Script(
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end", 1
)
# KEYS: the lock, the state; ARGV: the token, the lease (ms). {taken, the state or false}
LOCK_AND_READ = Script(
    """
if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {1, redis.call('get', KEYS[2])}
end
return {0, false}
""",
    2,
)
# KEYS: the state, the lock; ARGV: the blob, its lifetime (ms), the token
WRITE_AND_RELEASE = Script(
    """
redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
if redis.call('get', KEYS[2]) == ARGV[3] then redis.call('del', KEYS[2]) end
return 1
""",
    2,
)


class RedisStore(StateStore):
    kind = "redis"

    def __init__(
        self, url: str, idle_timeout_s: float, lock_timeout_s: float, replicas: int = 0
    ) -> None:
        super().__init__()
        self.idle_timeout_ms = int(idle_timeout_s * 1000)
        self.lock_timeout_s = lock_timeout_s
        self.replicas = replicas
        self._orphans: dict[str, str] = {}
        # per key whose lock this process holds: its lock's name and token, and the state read
        # when it was taken (until get() takes it)
        self._held: dict[str, tuple[str, str]] = {}
        self._read: dict[str, bytes | None] = {}
        # the records this process wrote last, by key: read back unchanged, they need no parsing
        self._written: dict[str, tuple[bytes, SequenceState]] = {}
        self._tokens = itertools.count()
        self._process = secrets.token_hex(8)  # a lock's token: this process, then a count
        self.client, self.cluster = connect(url)
        # a cluster's client routes each command to its slot's node itself
        self.link = None if self.cluster else link(url, self.client)
        self._send = self.link.execute if self.link else self.client.execute_command

    def _tagged(self, key: str) -> str:
        """In a cluster, ``{key}``: the state and the lock of a sequence hash to one slot."""
        return f"{{{key}}}" if self.cluster else key

    async def get(self, key: str) -> SequenceState | None:
        if key in self._read:  # read with the lock, in the same round trip
            blob = self._read.pop(key)
        else:
            blob = await self._call(self._send, "GET", PREFIX + self._tagged(key))
        if not blob:
            return None
        written = self._written.get(key)
        if written is not None and written[0] == blob:
            return written[1]
        return SequenceState.from_bytes(blob)

    async def put(self, key: str, value: SequenceState) -> None:
        """Writes the state; under this process's lock, frees the lock in the same script.
        With RNN_SERVE_STATE_REPLICAS, WAIT follows on the same connection (it counts that
        connection's writes)."""
        self._read.pop(key, None)  # what the lock read is older now
        name, held = PREFIX + self._tagged(key), self._held.pop(key, None)
        blob, lifetime = value.to_bytes(), self.idle_timeout_ms
        try:
            if self.replicas:
                write = ("SET", name, blob, "PX", lifetime)
                if held is not None:
                    write = WRITE_AND_RELEASE.eval(name, held[0], blob, lifetime, held[1])
                await self._replicated(write)
            elif held is not None:
                lock, token = held
                await self._call(self._script, WRITE_AND_RELEASE, name, lock, blob, lifetime, token)
            else:
                await self._call(self._send, "SET", name, blob, "PX", lifetime)
        except StateUnavailable:
            if held is not None:
                self._held[key] = held  # the lock's exit frees it, or keeps it as an orphan
            raise
        self._written.pop(key, None)  # the newest last
        if len(self._written) >= WRITTEN:
            del self._written[next(iter(self._written))]
        self._written[key] = (blob, value)

    async def _replicated(self, write: tuple[Any, ...]) -> None:
        """The write, then WAIT on the same pooled connection (it counts that connection's
        writes, and blocks it, so not on the link that every step shares)."""
        pipe = self.client.pipeline(transaction=False)
        pipe.execute_command(*write)
        pipe.wait(self.replicas, int(self.lock_timeout_s * 1000))
        _, acknowledged = await self._call(pipe.execute)
        if acknowledged < self.replicas:
            raise StateUnavailable(
                f"the sequence state reached {acknowledged} of {self.replicas} replicas "
                "(RNN_SERVE_STATE_REPLICAS) in time; retry with the same Idempotency-Key"
            )

    async def _script(self, script: Script, *arguments: Any) -> Any:
        """By its SHA1, by its body where Redis does not know it (NOSCRIPT: it did not run)."""
        try:
            return await self._send("EVALSHA", script.sha, script.keys, *arguments)
        except NoScriptError:
            pass
        return await self._send(*script.eval(*arguments))

    async def delete(self, key: str) -> None:
        self._read.pop(key, None)
        self._written.pop(key, None)
        await self._call(self._send, "DEL", PREFIX + self._tagged(key))

    async def count(self) -> int:
        """Live sequences (lock keys included in the scan, not in the count), on every node
        of a cluster; an outage gives StateUnavailable, never a raw error."""
        return int(await self._call(self._count))

    async def _count(self) -> int:
        count = 0
        async for key in self.client.scan_iter(match=PREFIX + "*", count=1000):
            count += not key.startswith(LOCK_KEYS)
        return count

    async def close(self) -> None:
        if self.link is not None:
            self.link.close()
        await self.client.aclose()

    def lock(self, key: str) -> _Lease:
        return _Lease(self, key, super().lock(key))

    async def _release_orphan(self, name: str) -> None:
        await self._call(self._script, RELEASE, name, self._orphans[name])
        del self._orphans[name]

    async def _acquire(self, lock: str, state: str, token: str) -> bytes | None:
        """Takes the lock and reads the state, in one script: the state's blob (None: none)."""
        lease_ms = int(self.lock_timeout_s * 1000) * 2  # outlives a slow request, not a crash
        deadline = asyncio.get_running_loop().time() + self.lock_timeout_s
        while True:
            taken, blob = await self._call(self._lock_and_read, lock, state, token, lease_ms)
            if taken:
                return blob or None
            if asyncio.get_running_loop().time() > deadline:
                raise StateUnavailable(
                    f"sequence is busy in another replica for over {self.lock_timeout_s:g} s"
                )
            await asyncio.sleep(0.002)

    async def _lock_and_read(self, lock: str, state: str, token: str, lease_ms: int) -> Any:
        """SET NX, then GET, in one write; the state read is used only where the lock was
        taken. A script where a cluster's client sends the commands (one round trip): Redis
        runs two plain commands in a third of a script's time, and a step waits for it."""
        if self.link is None:
            return await self._script(LOCK_AND_READ, lock, state, token, lease_ms)
        return await self.link.pipeline(("SET", lock, token, "NX", "PX", lease_ms), ("GET", state))

    @staticmethod
    async def _call(method: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await method(*args, **kwargs)
        except (RedisError, OSError) as error:
            log.warning("sequence state store: %s: %s", type(error).__name__, error)
            raise StateUnavailable(
                "the sequence state store is unavailable; retry shortly"
            ) from None


class _Lease:
    """The Redis lock of one sequence, taken after this process's earlier requests of it (the
    local lock), with the state read in the same round trip; freed by put() or at the exit."""

    __slots__ = ("key", "local", "name", "store", "token")

    def __init__(self, store: RedisStore, key: str, local: AbstractAsyncContextManager[None]):
        self.store, self.key, self.local = store, key, local
        self.name = LOCKS + store._tagged(key)
        self.token = f"{store._process}:{next(store._tokens)}"

    async def __aenter__(self) -> None:
        await self.local.__aenter__()
        store, name, token = self.store, self.name, self.token
        try:
            if name in store._orphans:
                await store._release_orphan(name)
            state = PREFIX + store._tagged(self.key)
            store._read[self.key] = await store._acquire(name, state, token)
        except BaseException as error:
            if isinstance(error, StateUnavailable):
                # A SET sent while Redis stalled may still land when it wakes: remember the
                # token so that this process frees that lock before its next attempt.
                store._orphans.setdefault(name, token)
            await self.local.__aexit__(None, None, None)
            raise
        store._held[self.key] = (name, token)

    async def __aexit__(self, *exc: Any) -> None:
        store = self.store
        try:
            store._read.pop(self.key, None)
            if store._held.pop(self.key, None) is not None:  # put() has not freed it
                try:
                    await store._call(store._script, RELEASE, self.name, self.token)
                except StateUnavailable:
                    store._orphans[self.name] = self.token  # the request itself succeeded
        finally:
            await self.local.__aexit__(*exc)


def connect(url: str) -> tuple[Any, bool]:
    """A client for ``url``, and whether it is a cluster's."""
    scheme, _, rest = url.partition("://")
    timeouts: dict[str, Any] = {"socket_timeout": TIMEOUT_S, "socket_connect_timeout": TIMEOUT_S}
    if scheme == CLUSTER:
        host, port = _address(rest.partition("/")[0], url)
        return redis.RedisCluster(host=host, port=port, **timeouts), True
    if scheme == SENTINEL:
        hosts, _, master = rest.partition("/")
        if not master:
            raise ValueError(f"{url}: name the master, as in {SENTINEL}://host:port/mymaster")
        sentinels = [_address(host, url) for host in hosts.split(",")]
        sentinel = Sentinel(sentinels, **timeouts)
        return sentinel.master_for(master, **timeouts), False
    return redis.Redis.from_url(url, retry_on_timeout=False, **timeouts), False


def link(url: str, client: Any) -> Link:
    """The pipelined connection for one server, or for the master a sentinel client's
    sentinels name (asked again at each reconnection)."""
    if url.startswith(SENTINEL):
        return Link(client.connection_pool.get_master_address, TIMEOUT_S, [])
    return Link.from_url(url, TIMEOUT_S)


def _address(text: str, url: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"{url}: expected host:port, got {text!r}")
    return host, int(port)
