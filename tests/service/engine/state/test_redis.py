"""The Redis store beyond one server: a real Redis Cluster (six redis-server nodes), and the
URLs that name a cluster or a sentinel-watched master."""

from __future__ import annotations

import asyncio
import subprocess

import hiredis
import numpy as np
import pytest
from pydantic import ValidationError

from rnn_serve.service.engine.state.base import SequenceState
from rnn_serve.service.engine.state.redis import PREFIX, RedisStore, connect
from rnn_serve.service.settings import Settings


def state(steps: int) -> SequenceState:
    return SequenceState(np.full((1, 4), steps, np.float32), np.zeros((1, 1)), steps, "1")


def keyslot(port: int, key: str) -> int:
    found = subprocess.run(
        ["redis-cli", "-p", str(port), "cluster", "keyslot", key], capture_output=True, text=True
    )
    return int(found.stdout)


def test_a_cluster_keeps_a_sequence_and_its_lock_in_one_slot(redis_cluster):
    async def scenario() -> None:
        store = RedisStore(f"redis+cluster://127.0.0.1:{redis_cluster[0]}", 60, 5)
        try:
            assert store.cluster
            for key in ("sensor-1", "sensor-2", "a}b{c"):
                async with store.lock(key):
                    await store.put(key, state(3))
                    loaded = await store.get(key)
                assert loaded is not None and loaded.steps == 3
            assert await store.count() == 3  # every node scanned, locks not counted
            await store.delete("sensor-2")
            assert await store.get("sensor-2") is None and await store.count() == 2
        finally:
            await store.close()

    asyncio.run(scenario())
    port = redis_cluster[0]
    assert keyslot(port, PREFIX + "{sensor-1}") == keyslot(port, PREFIX + "lock:{sensor-1}")
    assert keyslot(port, PREFIX + "{sensor-1}") != keyslot(port, PREFIX + "{sensor-2}")


def test_urls_name_one_server_a_cluster_or_a_sentinel_master():
    assert connect("redis://127.0.0.1:6379/0")[1] is False
    assert connect("redis+cluster://127.0.0.1:7000")[1] is True
    client, cluster = connect("redis+sentinel://127.0.0.1:26379,127.0.0.1:26380/mymaster")
    assert cluster is False and client.connection_pool.service_name == "mymaster"
    with pytest.raises(ValueError, match="expected host:port"):
        connect("redis+cluster://nowhere")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("memcached://127.0.0.1:11211", "the scheme must be one of redis, rediss"),
        ("redis+sentinel://127.0.0.1:26379", "name the master"),
    ],
)
def test_a_state_url_the_store_cannot_use_is_refused_at_start_up(url, message):
    with pytest.raises(ValidationError, match=message):
        Settings(state_url=url)


def spied(store: RedisStore) -> list[list[str]]:
    """Each write the store's connection makes from now on: the commands in it, by name."""
    writes: list[list[str]] = []
    transport = store.link.wire.transport
    write = transport.write

    def recorded(data: bytes) -> None:
        reader, commands = hiredis.Reader(), []
        reader.feed(data)
        while (command := reader.gets()) is not False:
            commands.append(command[0].decode())
        writes.append(commands)
        write(data)

    transport.write = recorded
    return writes


def test_a_step_is_two_round_trips_and_frees_its_lock(redis_url):
    """The lock and the read in one write, the next state and the unlock in one script: two
    round trips a step where there were four (lock, read, write, unlock)."""

    async def scenario() -> list[list[str]]:
        store = RedisStore(redis_url, 60, 5)
        try:
            async with store.lock("two-trips"):
                await store.put("two-trips", state(1))
            writes = spied(store)
            async with store.lock("two-trips"):
                known = await store.get("two-trips")
                assert known is not None and known.steps == 1
                await store.put("two-trips", state(2))
            assert await store.client.get(PREFIX + "lock:two-trips") is None  # freed
            assert (await store.get("two-trips")).steps == 2
        finally:
            await store.close()
        return writes

    assert asyncio.run(scenario()) == [["SET", "GET"], ["EVALSHA"], ["GET"]]


def test_a_step_sends_its_script_again_to_a_redis_that_forgot_it(redis_url):
    """SCRIPT FLUSH (or a restarted Redis): the script's EVALSHA gets NOSCRIPT, without
    running, and the script goes again by its body; the step is applied once."""

    async def scenario() -> list[list[str]]:
        store = RedisStore(redis_url, 60, 5)
        try:
            async with store.lock("forgot"):
                await store.put("forgot", state(1))
            await store.client.script_flush()
            writes = spied(store)
            async with store.lock("forgot"):
                known = await store.get("forgot")
                await store.put("forgot", state(known.steps + 1))
            assert (await store.get("forgot")).steps == 2
        finally:
            await store.close()
        return writes

    assert asyncio.run(scenario()) == [["SET", "GET"], ["EVALSHA"], ["EVAL"], ["GET"]]


def test_steps_of_sequences_that_arrive_together_share_round_trips(redis_url):
    """32 steps at once, each of its own sequence: each reads the state it wrote before and
    writes its next, and their 96 commands go in far fewer writes than that."""

    async def scenario() -> list[list[str]]:
        store = RedisStore(redis_url, 60, 5)

        async def step(number: int | str) -> int:
            key = f"together-{number}"
            async with store.lock(key):
                known = await store.get(key)
                steps = known.steps if known is not None else 0
                await store.put(key, state(steps + 1))
            return steps + 1

        try:
            await step("first")  # the connection made
            writes = spied(store)
            for _ in range(2):
                assert await asyncio.gather(*(step(n) for n in range(32))) != []
            trips = list(writes)
            assert [(await store.get(f"together-{n}")).steps for n in range(32)] == [2] * 32
        finally:
            await store.close()
        return trips

    trips = asyncio.run(scenario())
    assert sum(len(commands) for commands in trips) == 2 * 32 * 3, trips
    assert len(trips) <= 8, trips
