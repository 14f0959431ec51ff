"""App fixtures: the real app with its lifespan, on the shipped or on temporary models."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import Settings
from tests.conftest import ARTIFACTS

ROOT = ARTIFACTS.parent.parent
# Load-shaped tests are sized for the CPU's speed (a GPU finishes their heavy calls before the
# test acts); what they test (admission, shutdown, the event loop) does not depend on the
# device, so on a GPU machine they pin the CPU.
ON_THE_CPU = {"RNN_SERVE_PROVIDER": "cpu"}


def make_client(**overrides: object) -> TestClient:
    settings = Settings(model_dir=overrides.pop("model_dir", ARTIFACTS), **overrides)
    return TestClient(create_app(settings), raise_server_exceptions=False)


@pytest.fixture(scope="session")
def client() -> Iterator[TestClient]:
    with make_client() as test_client:
        yield test_client


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    """A writable copy of the shipped models, for tests that break or add files."""
    target = tmp_path / "models"
    shutil.copytree(ARTIFACTS, target)
    return target


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """A real ``python -m service`` process on 127.0.0.1 (or ``command``, given the same
    --host and --port)."""

    def __init__(
        self,
        env: dict[str, str] | None = None,
        command: list[str] | None = None,
        cwd: Path = ROOT,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # A file, not a pipe: an unread pipe fills up and stalls a server that logs every request.
        self.log = tempfile.TemporaryFile("w+")  # noqa: SIM115 - lives as long as the server
        self.process = subprocess.Popen(
            [
                *(command or [sys.executable, "-m", "service"]),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            cwd=cwd,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.output()}")
            try:
                if httpx.get(f"{self.url}/v2/health/ready", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise TimeoutError("server did not become ready")

    def __enter__(self) -> Server:
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        if self.process.poll() is None:
            self.stop()

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def stop(self) -> str:
        """Stops the server (SIGTERM) and returns everything it wrote."""
        self.process.terminate()
        self.process.wait(timeout=30)
        return self.output()


@pytest.fixture
def server() -> Iterator[Server]:
    with Server() as running:
        yield running


@pytest.fixture(scope="session")
def shared_server() -> Iterator[Server]:
    """One real server for the tests that only read from it."""
    with Server() as running:
        yield running


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real redis-server on 127.0.0.1, on a free port, for the session."""
    port = free_port()
    with redis_servers([["--port", str(port)]]):
        yield f"redis://127.0.0.1:{port}/0"


CLUSTER_OPTIONS = ("--cluster-replicas", "1", "--cluster-yes")


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory) -> Iterator[list[int]]:
    """A real Redis Cluster on 127.0.0.1: three masters, each with a replica, from the one
    redis-server binary and ``redis-cli --cluster create``; its nodes' ports."""
    folder = tmp_path_factory.mktemp("cluster")
    ports = [free_port() for _ in range(6)]
    nodes = [
        [
            *("--port", str(port), "--cluster-port", str(free_port())),
            *("--cluster-enabled", "yes", "--cluster-node-timeout", "1000"),
            *("--cluster-config-file", str(folder / f"nodes-{port}.conf"), "--dir", str(folder)),
        ]
        for port in ports
    ]
    with redis_servers(nodes):
        addresses = [f"127.0.0.1:{port}" for port in ports]
        subprocess.run(
            ["redis-cli", "--cluster", "create", *addresses, *CLUSTER_OPTIONS],
            check=True,
            capture_output=True,
            timeout=60,
        )
        wait_for(lambda: all(cluster_ok(port) for port in ports), "the cluster to form")
        yield ports


@pytest.fixture
def redis_sentinel(tmp_path) -> Iterator[tuple[str, list[int]]]:
    """A real master, its replica, and three sentinels watching them (``redis-server conf
    --sentinel``: no other package); the URL that names them, and the sentinels' ports."""
    master, replica, sentinels = free_port(), free_port(), [free_port() for _ in range(3)]
    for port in sentinels:
        (tmp_path / f"sentinel-{port}.conf").write_text(
            f"port {port}\nbind 127.0.0.1\ndir {tmp_path}\n"
            f"sentinel monitor {SENTINEL_MASTER} 127.0.0.1 {master} 2\n"
            f"sentinel down-after-milliseconds {SENTINEL_MASTER} 1000\n"
            f"sentinel failover-timeout {SENTINEL_MASTER} 5000\n"
        )
    servers = [
        ["--port", str(master)],
        ["--port", str(replica), "--replicaof", "127.0.0.1", str(master)],
    ]
    servers += [
        [str(tmp_path / f"sentinel-{port}.conf"), "--sentinel", "--port", str(port)]
        for port in sentinels
    ]
    with redis_servers(servers):
        # until its first sync is done a replica holds nothing, and a failover could promote it
        wait_for(lambda: "state=online" in redis_cli(master, "info", "replication"), "the sync")
        wait_for(lambda: sentinel_master(sentinels[0]) == master, "the sentinels")
        # sentinels learn of replicas from the master's INFO, every few seconds
        wait_for(lambda: sentinel_knows_a_replica(sentinels[0]), "the replica", timeout=30)
        addresses = ",".join(f"127.0.0.1:{port}" for port in sentinels)
        yield f"redis+sentinel://{addresses}/{SENTINEL_MASTER}", sentinels


SENTINEL_MASTER = "rnn-serve"


def redis_cli(port: int, *command: str) -> str:
    done = subprocess.run(
        ["redis-cli", "-p", str(port), *command], capture_output=True, text=True, timeout=10
    )
    return done.stdout.strip()


def sentinel_master(port: int) -> int | None:
    """The port of the master a sentinel names now."""
    found = redis_cli(port, "sentinel", "get-master-addr-by-name", SENTINEL_MASTER).split()
    return int(found[1]) if len(found) == 2 else None


def sentinel_knows_a_replica(port: int) -> bool:
    found = redis_cli(port, "sentinel", "replicas", SENTINEL_MASTER)
    return "flags" in found and "s_down" not in found and "disconnected" not in found


def cluster_ok(port: int) -> bool:
    return "cluster_state:ok" in redis_cli(port, "cluster", "info")


@contextmanager
def redis_servers(arguments: list[list[str]]) -> Iterator[list[subprocess.Popen[bytes]]]:
    """redis-server processes on 127.0.0.1 with these arguments (each has its --port), no
    persistence; stopped on exit. They run in a folder of their own: a master still writes
    dump.rdb there to sync a replica."""
    binary = shutil.which("redis-server")
    if binary is None or shutil.which("redis-cli") is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    base = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    base += ["--repl-diskless-sync-delay", "0"]  # a replica's first sync at once, not in 5 s
    folder = tempfile.TemporaryDirectory()  # removed when the servers stop
    processes = [
        subprocess.Popen(
            [binary, *args, *base],
            cwd=folder.name,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for args in arguments
    ]
    try:
        for args in arguments:
            port = int(args[args.index("--port") + 1])
            wait_for(
                lambda port=port: socket.socket().connect_ex(("127.0.0.1", port)) == 0,
                f"redis-server on {port}",
            )
        yield processes
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=10)
        folder.cleanup()


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:g} s for {what}")
        time.sleep(0.05)


def assert_streamed_as_whole(answers: list[dict], whole: dict, steps: int) -> None:
    """A sequence's answers, streamed a chunk at a time, equal one request with every step:
    the outputs side by side, the final state, and the steps counted (none lost or twice)."""
    assert answers[-1]["sequence"]["steps"] == steps
    outputs = np.concatenate([np.array(answer["outputs"]) for answer in answers], axis=1)
    np.testing.assert_allclose(outputs, whole["outputs"], atol=1e-5)
    np.testing.assert_allclose(answers[-1]["state"], whole["state"], atol=1e-5)
