"""Fixtures shared by the tests: the app in process on the shipped or on temporary models,
real Redis servers (one, a cluster, a sentinel group), and trained models."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.support.models import ARTIFACTS, TRAINED, train_dataset
from tests.support.redis import (
    CLUSTER_OPTIONS,
    SENTINEL_MASTER,
    cluster_ok,
    redis_cli,
    redis_servers,
    sentinel_knows_a_replica,
    sentinel_master,
)
from tests.support.servers import free_port, make_client, wait_for

# Ray and KServe's SDK are installed only in virtual environments of their own (`make ray`,
# `make kserve`); elsewhere their tests are not collected at all.
collect_ignore = [
    test
    for package, test in [
        ("ray", "live/test_deploy_ray.py"),
        ("kserve", "live/test_kserve_clients.py"),
    ]
    if importlib.util.find_spec(package) is None
]


@pytest.fixture(scope="session")
def artifacts() -> Path:
    return ARTIFACTS


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """{name: Trained}, all in one model directory (``trained_dir``)."""
    directory = tmp_path_factory.mktemp("trained")
    return {name: train_dataset(name, directory) for name in TRAINED}


@pytest.fixture(scope="session")
def trained_dir(trained: dict[str, object]) -> Path:
    return next(iter(trained.values())).plot.parent  # type: ignore[attr-defined]


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


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real redis-server on 127.0.0.1, on a free port, for the session."""
    port = free_port()
    with redis_servers([["--port", str(port)]]):
        yield f"redis://127.0.0.1:{port}/0"


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
