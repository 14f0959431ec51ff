"""Real redis-server processes for the tests: single, cluster and sentinel, and redis-cli."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.support.servers import wait_for

CLUSTER_OPTIONS = ("--cluster-replicas", "1", "--cluster-yes")
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
