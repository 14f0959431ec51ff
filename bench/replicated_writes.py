"""What a sequence step costs when its write waits for a Redis replica (RNN_SERVE_STATE_REPLICAS=1,
Redis WAIT) against asynchronous replication, in one run: a local master and its replica,
the server on core 0, one client on core 1 sending the steps of 20 sequences one at a time on
a kept-alive connection. Results go to docs/reliability.md.

    python -m bench.replicated_writes            # about 30 seconds
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import numpy as np

from bench.load import OURS, OURS_ENV, PORT, ROOT, server
from bench.report import write_section

REPORT = ROOT / "docs" / "reliability.md"
MARK = "## Writes a replica acknowledges"
SEQUENCES, STEPS = 20, 100


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def master_and_replica() -> Iterator[int]:
    """A redis-server and its replica on 127.0.0.1; the master's port."""
    master, replica = free_port(), free_port()
    base = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    with tempfile.TemporaryDirectory() as folder:
        binary = shutil.which("redis-server") or "redis-server"
        processes = [
            subprocess.Popen(
                [binary, "--port", str(master), *base], cwd=folder, stdout=subprocess.DEVNULL
            ),
            subprocess.Popen(
                [binary, "--port", str(replica), "--replicaof", "127.0.0.1", str(master), *base],
                cwd=folder,
                stdout=subprocess.DEVNULL,
            ),
        ]
        try:
            deadline = time.monotonic() + 20
            while (
                b"master_link_status:up"
                not in subprocess.run(
                    ["redis-cli", "-p", str(replica), "info", "replication"], capture_output=True
                ).stdout
            ):
                assert time.monotonic() < deadline, "the replica did not sync"
                time.sleep(0.1)
            yield master
        finally:
            for process in processes:
                process.terminate()
                process.wait()


def steps(url: str) -> list[float]:
    """Milliseconds per step, over every step of every sequence."""
    step = {"inputs": [[[0.1, 0.2, 0.3]]]}
    times = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for index in range(SEQUENCES):
            for position in range(STEPS):
                body = step | {"sequence": {"id": f"s{index}", "start": position == 0}}
                started = time.perf_counter()
                response = client.post("/v1/models/seed-demo/predict", json=body)
                times.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, response.text
    return times


def main() -> None:
    os.sched_setaffinity(0, {1})
    rows = []
    with master_and_replica() as port:
        for replicas in ("0", "1"):
            env = OURS_ENV | {
                "RNN_SERVE_STATE_URL": f"redis://127.0.0.1:{port}/0",
                "RNN_SERVE_STATE_REPLICAS": replicas,
                "RNN_SERVE_ACCESS_LOG": "false",
            }
            with server(OURS, PORT, env, "/v2/health/ready") as running:
                steps(running.url)  # warm
                times = steps(running.url)
            rows.append(
                f"| {replicas} | {1000 * len(times) / sum(times):,.0f} | "
                f"{np.percentile(times, 50):.2f} | {np.percentile(times, 99):.2f} |"
            )
    table = "\n".join(
        [
            "| RNN_SERVE_STATE_REPLICAS | steps/s, one client | p50 (ms) | p99 (ms) |",
            "| --- | ---: | ---: | ---: |",
            *rows,
        ]
    )
    print(table)
    section = (
        f"{MARK}\n\n`python -m bench.replicated_writes`: {SEQUENCES} sequences of {STEPS} steps, "
        "one at a time on a kept-alive connection, the store a local Redis master with one "
        "replica; server on core 0, client on core 1, one run:\n\n"
        f"{table}\n"
    )
    write_section(REPORT, MARK, section)


if __name__ == "__main__":
    main()
