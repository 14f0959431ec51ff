"""A sequence streamed through a real server while its Redis master fails over: the stream goes
on (a 503 during the failover is allowed, and retried with the same idempotency key), and no
step is lost or applied twice: the streamed answers equal one request with every step."""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import httpx
import numpy as np
import pytest

from rnn_serve.service.engine.state.redis import PREFIX
from tests.support.redis import SENTINEL_MASTER, redis_cli, sentinel_master
from tests.support.servers import Server, assert_streamed_as_whole, wait_for

pytestmark = pytest.mark.integration
PREDICT = "/v1/models/seed-demo/predict"
STEPS, FAIL_AT = 40, 20


def send(url: str, sequence: str, index: int, step: np.ndarray) -> dict:
    """One step, retried with its idempotency key while the store is failing over."""
    body = {"inputs": step.tolist(), "sequence": {"id": sequence, "start": index == 0}}
    headers = {"Idempotency-Key": f"{sequence}-{index}"}
    deadline = time.monotonic() + 30
    while True:
        response = httpx.post(url + PREDICT, json=body, headers=headers, timeout=10)
        if response.status_code == 200:
            return response.json()
        assert response.status_code == 503, response.text
        assert time.monotonic() < deadline, "the store did not come back within 30 s"
        time.sleep(0.1)


def cluster_failover(ports: list[int], key: str) -> None:
    """The replica of the master that holds ``key`` takes over (CLUSTER FAILOVER, as for
    maintenance: the replica catches up first, then the roles swap)."""
    slot = int(redis_cli(ports[0], "cluster", "keyslot", key))
    nodes = [line.split() for line in redis_cli(ports[0], "cluster", "nodes").splitlines()]
    master = next(
        node
        for node in nodes
        if "master" in node[2] and any(_holds(part, slot) for part in node[8:])
    )
    replica = next(node for node in nodes if "slave" in node[2] and node[3] == master[0])
    replica_port = int(replica[1].split("@")[0].rsplit(":", 1)[1])
    assert redis_cli(replica_port, "cluster", "failover") == "OK"
    wait_for(lambda: redis_cli(replica_port, "role").startswith("master"), "the failover")


def sentinel_failover(sentinel: int) -> None:
    """The sentinels promote the replica (SENTINEL FAILOVER) and name it as the master; done
    when the old master follows the new one (until then it still takes writes, and a client
    that never asks the sentinels again would not notice)."""
    before = sentinel_master(sentinel)
    assert before is not None
    assert redis_cli(sentinel, "sentinel", "failover", SENTINEL_MASTER) == "OK"
    wait_for(lambda: sentinel_master(sentinel) not in (before, None), "the failover")
    wait_for(lambda: info(before, "replication")["role"] == "slave", "the old master to follow")


def _holds(part: str, slot: int) -> bool:
    low, _, high = part.partition("-")
    return low.isdigit() and int(low) <= slot <= int(high or low)


def stream_through_failover(
    url: str,
    rng: np.random.Generator,
    fail_over: Callable[[str], None],
    settings: dict[str, str] | None = None,
) -> None:
    """STEPS steps of one sequence on a server whose store is ``url``; ``fail_over(sequence)``
    before step FAIL_AT. The streamed answers must equal one request with every step."""
    env = os.environ | {"RNN_SERVE_STATE_URL": url, "RNN_SERVE_ACCESS_LOG": "0"}
    env |= settings or {}
    inputs = rng.normal(size=(1, STEPS, 3)).astype(np.float32)
    sequence = uuid.uuid4().hex
    with Server(env) as server:
        answers = []
        for index in range(STEPS):
            if index == FAIL_AT:
                fail_over(sequence)
            answers.append(send(server.url, sequence, index, inputs[:, index : index + 1]))
        whole = httpx.post(server.url + PREDICT, json={"inputs": inputs.tolist()}).json()
    assert_streamed_as_whole(answers, whole, STEPS)


def test_a_sequence_streams_on_through_a_cluster_failover(redis_cluster, rng):
    stream_through_failover(
        f"redis+cluster://127.0.0.1:{redis_cluster[0]}",
        rng,
        lambda sequence: cluster_failover(redis_cluster, PREFIX + "{" + sequence + "}"),
    )


def test_a_sequence_streams_on_when_the_sentinels_fail_the_master_over(redis_sentinel, rng):
    url, sentinels = redis_sentinel
    stream_through_failover(url, rng, lambda _: sentinel_failover(sentinels[0]))


def pid_of(port: int) -> int:
    return int(info(port, "server")["process_id"])


def repl_offset(port: int) -> int:
    return int(info(port, "replication")["master_repl_offset"])


def info(port: int, section: str) -> dict[str, str]:
    lines = redis_cli(port, "info", section).splitlines()
    return dict(line.split(":", 1) for line in lines if ":" in line)


def test_a_step_answered_before_its_master_is_killed_is_never_lost(redis_sentinel, rng):
    """The master is killed (SIGKILL: no hand-over) while its replica lags: the replica is
    stopped and cut off, a step's write reaches the master alone, then the master dies and the
    replica is promoted without it. With RNN_SERVE_STATE_REPLICAS=1 that step was not answered (its
    write waited for the replica): the client retries it with its key, and it is applied
    once on the new master. (With 0, replication is asynchronous: the step is answered, then
    lost with what the replica had not received, and the sequence does not go on as one
    request would; that is what this test catches.)"""
    url, sentinels = redis_sentinel
    env = os.environ | {"RNN_SERVE_STATE_URL": url, "RNN_SERVE_ACCESS_LOG": "0"}
    env |= {"RNN_SERVE_STATE_REPLICAS": "1"}
    inputs = rng.normal(size=(1, STEPS, 3)).astype(np.float32)
    sequence, answers = uuid.uuid4().hex, []
    with Server(env) as server, ThreadPoolExecutor(1) as pool:
        for index in range(STEPS):
            step = inputs[:, index : index + 1]
            if index != FAIL_AT:
                answers.append(send(server.url, sequence, index, step))
                continue
            master = sentinel_master(sentinels[0])
            assert master is not None
            replica = int(info(master, "replication")["slave0"].split("port=")[1].split(",")[0])
            replica_pid = pid_of(replica)
            os.kill(replica_pid, signal.SIGSTOP)
            # and cut from its master: the next write reaches the master alone
            assert redis_cli(master, "client", "kill", "type", "replica") == "1"
            offset = repl_offset(master)
            pending = pool.submit(send, server.url, sequence, index, step)
            wait_for(
                lambda master=master, offset=offset: repl_offset(master) > offset,
                "the step's write to reach the master",
            )
            os.kill(pid_of(master), signal.SIGKILL)
            os.kill(replica_pid, signal.SIGCONT)
            promoted = partial(lambda port: sentinel_master(sentinels[0]) == port, replica)
            wait_for(promoted, "the failover", 30)
            answers.append(pending.result())
        whole = httpx.post(server.url + PREDICT, json={"inputs": inputs.tolist()}).json()
    assert_streamed_as_whole(answers, whole, STEPS)
