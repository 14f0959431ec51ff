"""rnn-serve on Ray Serve (deploy/ray/), on a real local Ray cluster: a head node and a worker
node, one CPU each, deployed from deploy/ray/serve.yaml by `serve run` as a user would. Its two
replicas, one on each node, share a real Redis. A sequence streams across them; the worker node
is killed mid-stream, and the streamed answers must equal one request with every step: no step
lost, none applied twice. Needs Ray: `make ray` runs it in a virtual environment of its own
(.ci/run does, after the suite).

What Ray does here (ray 2.60, both nodes on one machine): `remove_node(worker, False)` kills the
node's raylet and returns within milliseconds, but the replica's own process lives on for 2-4 s
and goes on answering what the proxy sends it; the proxy then finds it "temporarily
unavailable" and routes to the other; the controller marks it STOPPING after ~6 s and the
actor table DEAD after ~8 s. So the steps sent while the node dies may land on either replica
(that part is not deterministic: only their answers are checked), and "one replica answers"
is checked only once Ray itself says the removed node's replica is dead."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import ray
import ray._private.state as ray_state
import yaml  # Ray's dependency
from ray import serve
from ray.cluster_utils import Cluster

from tests.support.redis import redis_servers
from tests.support.servers import ROOT, assert_streamed_as_whole, free_port, wait_for

pytestmark = pytest.mark.ray

PREDICT = "/v1/models/seed-demo/predict"
APP, DEPLOYMENT = "rnn-serve", "RnnServe"
STEPS, KILL_AT, DYING = 40, 20, 10  # the node is killed at KILL_AT; DYING steps sent meanwhile


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Cluster, object]]:
    """A head node and a worker node on this machine, one CPU each: the cluster, and the
    worker node to kill."""
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # every node's workers import deploy.ray.app
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    # Ray's proxy sends to a replica on its own node while that one keeps up; a stream of
    # one step at a time would never leave the head node. Spread over both, as a load
    # balancer over every node's proxy would.
    monkeypatch.setenv("RAY_SERVE_PROXY_PREFER_LOCAL_NODE_ROUTING", "0")
    local = Cluster(
        initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False}
    )
    try:
        worker = local.add_node(num_cpus=1)
        local.wait_for_nodes()
        ray.init(address=local.address)
        yield local, worker
    finally:
        ray.shutdown()
        local.shutdown()


def deploy(address: str, redis_url: str, folder: Path) -> str:
    """deploy/ray/serve.yaml, run by `serve run` with this test's Redis and port (and one
    proxy: both nodes are this machine, so one port); the URL it serves on."""
    config = yaml.safe_load((ROOT / "deploy/ray/serve.yaml").read_text())
    port = free_port()
    config["proxy_location"] = "HeadOnly"
    config["http_options"] |= {"host": "127.0.0.1", "port": port}
    config["applications"][0]["runtime_env"]["env_vars"]["RNN_SERVE_STATE_URL"] = redis_url
    (folder / "serve.yaml").write_text(yaml.safe_dump(config))
    serve_cli = Path(sys.executable).parent / "serve"
    subprocess.run(
        [serve_cli, "run", "--non-blocking", "--address", address, folder / "serve.yaml"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=180,
    )
    wait_for(lambda: running_replicas() == 2, "two replicas", timeout=180)
    return f"http://127.0.0.1:{port}"


def running_replicas() -> int:
    application = serve.status().applications.get(APP)
    deployment = application and application.deployments.get(DEPLOYMENT)
    return deployment.replica_states.get("RUNNING", 0) if deployment else 0


def send(url: str, sequence: str, index: int, step: np.ndarray, failures: list[str]) -> dict:
    """One step, retried with its idempotency key while its replica is dying (Ray answers 5xx
    or drops the connection); any 4xx fails the test."""
    body = {"inputs": step.tolist(), "sequence": {"id": sequence, "start": index == 0}}
    headers = {"Idempotency-Key": f"{sequence}-{index}", "X-Request-ID": f"step-{index}"}
    deadline = time.monotonic() + 90
    while True:
        try:
            response = httpx.post(url + PREDICT, json=body, headers=headers, timeout=30)
        except httpx.TransportError as error:
            failures.append(type(error).__name__)
        else:
            if response.status_code == 200:
                # the client's id, once: Ray's proxy sets it, the app's echo is dropped
                assert response.headers.get_list("x-request-id") == [f"step-{index}"]
                return response.json()
            assert response.status_code >= 500, response.text
            failures.append(str(response.status_code))
        assert time.monotonic() < deadline, f"step {index} unanswered after 90 s: {failures}"
        time.sleep(0.2)


def replicas() -> dict[str, tuple[str, str]]:
    """Each replica of the deployment, by its id, with its node and its state, from Ray's
    actor table (the state API's public form needs the dashboard, which the test leaves off)."""
    prefix = f"SERVE_REPLICA::{APP}#{DEPLOYMENT}#"
    return {
        actor["Name"].removeprefix(prefix): (actor["Address"]["NodeID"], actor["State"])
        for actor in ray_state.actors().values()
        if actor["Name"].startswith(prefix)
    }


def answered_by_replica(session: Path) -> dict[str, int]:
    """The POSTs each replica answered, by replica id (Ray logs each in the replica's own file,
    named after its id, by route)."""
    logs = (session / "logs" / "serve").glob(f"replica_{APP}_{DEPLOYMENT}_*.log")
    return {log.stem.rpartition("_")[2]: log.read_text().count(" -- POST / 200 ") for log in logs}


def test_a_sequence_streams_on_across_replicas_when_a_node_dies(cluster, rng, tmp_path):
    local, worker = cluster
    port = free_port()
    with redis_servers([["--port", str(port)]]):
        url = deploy(local.address, f"redis://127.0.0.1:{port}/0", tmp_path)
        placed = replicas()
        doomed = [name for name, (node, _) in placed.items() if node == worker.node_id]
        survivor = [name for name, (node, _) in placed.items() if node != worker.node_id]
        assert len(doomed) == len(survivor) == 1, (placed, worker.node_id)
        inputs = rng.normal(size=(1, STEPS, 3)).astype(np.float32)
        session = Path(local.head_node.get_session_dir_path())
        sequence, failures, answers = uuid.uuid4().hex, [], []

        def step(index: int) -> None:
            answers.append(send(url, sequence, index, inputs[:, index : index + 1], failures))

        for index in range(KILL_AT):
            step(index)
        before = answered_by_replica(session)
        # killed while the stream goes on: the next steps are sent as the replica dies
        kill = threading.Thread(target=local.remove_node, args=(worker, False))
        kill.start()
        for index in range(KILL_AT, KILL_AT + DYING):
            step(index)
        kill.join()
        wait_for(lambda: replicas()[doomed[0]][1] == "DEAD", "Ray to mark it dead", timeout=90)
        dead = answered_by_replica(session)
        for index in range(KILL_AT + DYING, STEPS):
            step(index)
        # Ray writes a request's log line after its answer: the last one may still be coming
        expected = dead[survivor[0]] + STEPS - KILL_AT - DYING
        wait_for(lambda: answered_by_replica(session)[survivor[0]] >= expected, "the logs")
        after = answered_by_replica(session)
        whole = httpx.post(url + PREDICT, json={"inputs": inputs.tolist()}, timeout=30).json()
    # Both replicas served steps before the kill; once Ray says one is dead, only the other.
    assert set(before) == {*doomed, *survivor} and all(before.values()), before
    assert after[doomed[0]] == dead[doomed[0]], (before, dead, after)
    assert after[survivor[0]] == expected, (dead, after)
    assert_streamed_as_whole(answers, whole, STEPS)
    print(f"retried while the node died: {failures}")
