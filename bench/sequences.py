"""Live sequences, in one run: where the state lives, against the client holding it; a step over
a WebSocket stream against a unary REST step; and the bytes a live sequence costs. Server on
core 0; wrk, redis-server and the Python clients on core 1. Writes
docs/benchmarks-sequences.md; part of `make bench`.

    python -m bench.sequences            # about two minutes
    python -m bench.sequences --smoke    # short cases, no file

- seed-demo, one step a request, c=32 (wrk): the state sent by the client (``initial_state``,
  stateless), held by the server in memory, and in Redis (one local redis-server), 1,000 live
  sequences stepped in turn (bench/sequence.lua);
- one sequence of 1,000 steps, each waiting for its answer, on one connection: over a WebSocket
  stream (JSON frames, then binary ones, with the `websockets` client) and as unary /v1 calls
  (httpx, kept alive);
- 100,000 sequences started in memory: the server's RSS grown, per live sequence.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
from websockets.asyncio.client import connect

from bench.load import LOAD_CORE, OURS, OURS_ENV, PORT, ROOT, Result, Server, server, wrk

REPORT = ROOT / "docs" / "benchmarks-sequences.md"
PATH = "/v1/models/seed-demo/predict"
STEP = [[[0.1, 0.2, 0.3]]]
LIVE, CONNECTIONS, STEPS, MANY = 1_000, 32, 1_000, 100_000
ENV = OURS_ENV | {"RNN_SERVE_GRPC_PORT": "0"}


@contextmanager
def redis_server(port: int) -> Iterator[str]:
    command = ["taskset", "-c", LOAD_CORE, "redis-server", "--port", str(port), "--save", ""]
    process = subprocess.Popen([*command, "--appendonly", "no"], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while (
            subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True).stdout
            != b"PONG\n"
        ):
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


def held(seconds: float, redis_url: str, rounds: int) -> dict[str, list[Result]]:
    """The three cases in turn, ``rounds`` times, against two servers started side by side
    (one keeps state in memory, one in Redis; the idle one costs nothing): a machine whose
    speed drifts moves every case alike. Each case's rounds."""
    client = json.dumps({"inputs": STEP, "initial_state": [[0.0] * 7]}).encode()
    stepped = {"SEQUENCES": str(LIVE)}
    in_redis = [*OURS[:-1], str(PORT + 3)]
    with (
        server(OURS, PORT, ENV, "/v2/health/ready") as memory,
        server(
            in_redis, PORT + 3, ENV | {"RNN_SERVE_STATE_URL": redis_url}, "/v2/health/ready"
        ) as redis,
    ):
        cases = {
            "sent by the client (initial_state, stateless)": (memory, client, "post.lua"),
            "held by the server, in memory": (memory, b"", "sequence.lua"),
            "held by the server, in Redis (one local redis-server)": (redis, b"", "sequence.lua"),
        }
        runs: dict[str, list[Result]] = {name: [] for name in cases}
        for target, body, script in cases.values():  # warm, and start the sequences
            wrk(target, PATH, body, {}, CONNECTIONS, 1, script, stepped)
        for _ in range(rounds):
            for name, (target, body, script) in cases.items():
                runs[name].append(
                    wrk(target, PATH, body, {}, CONNECTIONS, seconds, script, stepped)
                )
    failed = {name: sum(r.errors for r in found) for name, found in runs.items()}
    if any(failed.values()):
        raise SystemExit(f"answers other than 200: {failed}")
    return runs


def _median(runs: list[Result]) -> Result:
    return sorted(runs, key=lambda run: run.requests_per_s)[len(runs) // 2]


def one_connection(steps: int) -> dict[str, float]:
    """Milliseconds a step of one sequence, each step waiting for its answer."""
    os.sched_setaffinity(0, {int(LOAD_CORE)})
    try:
        with server(OURS, PORT, ENV, "/v2/health/ready") as ours:
            return {
                "WebSocket stream, JSON frames": asyncio.run(_streamed(ours, steps, binary=False)),
                "WebSocket stream, binary frames": asyncio.run(_streamed(ours, steps, binary=True)),
                "unary /v1 calls (httpx, kept alive)": _unary(ours, steps),
            }
    finally:
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))


async def _streamed(ours: Server, steps: int, binary: bool) -> float:
    url = ours.url.replace("http", "ws", 1) + f"/v1/models/seed-demo/sequences/{uuid.uuid4().hex}"
    frame: str | bytes = json.dumps({"inputs": STEP})
    if binary:
        frame = np.asarray(STEP, np.float32).tobytes()
    async with connect(url + "/stream?start=true") as ws:
        await ws.recv()  # ready
        started = time.perf_counter()
        for _ in range(steps):
            await ws.send(frame)
            await ws.recv()
        return 1000 * (time.perf_counter() - started) / steps


def _unary(ours: Server, steps: int) -> float:
    sequence = uuid.uuid4().hex
    with httpx.Client(base_url=ours.url) as client:
        started = time.perf_counter()
        for step in range(steps):
            body = {"inputs": STEP, "sequence": {"id": sequence, "start": step == 0}}
            answer = client.post(PATH, json=body)
            assert answer.status_code == 200, answer.text
        return 1000 * (time.perf_counter() - started) / steps


def bytes_per_sequence(seconds: float) -> tuple[int, float]:
    """Live sequences after starting new ones for ``seconds`` (up to RNN_SERVE_MAX_SEQUENCES,
    100,000), and the RSS grown per live sequence."""
    with server(OURS, PORT, ENV, "/v2/health/ready") as ours:
        wrk(ours, PATH, b"", {}, CONNECTIONS, 1, "sequence.lua", {"SEQUENCES": "10"})  # warm
        before = _rss(ours)
        wrk(ours, PATH, b"", {}, CONNECTIONS, seconds, "sequence.lua", {"SEQUENCES": "0"})
        grown = _rss(ours) - before
        metrics = httpx.get(ours.url + "/metrics").text
    live = int(float(re.search(r'rnn_serve_sequences\{store="memory"\} (\S+)', metrics)[1]))  # type: ignore[index]
    return live, grown / max(live, 1)


def _rss(ours: Server) -> int:
    status = Path(f"/proc/{ours.process.pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status)[1]) * 1024  # type: ignore[index]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--seconds", type=float, default=4, help="a case's length in a round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    seconds, rounds = (1, 1) if args.smoke else (args.seconds, args.rounds)
    with redis_server(PORT + 2) as redis_url:
        runs = held(seconds, redis_url, rounds)
    results = {name: _median(found) for name, found in runs.items()}
    per_step = one_connection(100 if args.smoke else STEPS)
    live, per_live = bytes_per_sequence(3 if args.smoke else 40)
    client, memory, redis = results.values()
    rows = [
        f"| {name} | {r.requests_per_s:,.0f} ({r.requests_per_s / client.requests_per_s:.0%}) | "
        f"{', '.join(f'{each.requests_per_s:,.0f}' for each in runs[name])} | "
        f"{r.p99_ms:.1f} | {r.cpu_ms_per_request:.3f} |"
        for name, r in results.items()
    ]
    unary = per_step["unary /v1 calls (httpx, kept alive)"]
    step_rows = [f"| {name} | {ms:.3f} | {unary / ms:.2f}x |" for name, ms in per_step.items()]
    websocket = per_step["WebSocket stream, binary frames"]
    lines = [
        f"seed-demo, one step a request, {LIVE:,} live sequences stepped in turn, "
        f"c={CONNECTIONS}, the three cases in turn {rounds} times, {seconds:g} s each; each case's "
        "round of median req/s:",
        "",
        "| where the state lives | req/s (of the client-held) | each round's req/s | p99 ms | "
        "server CPU ms/req |",
        "| --- | ---: | ---: | ---: | ---: |",
        *rows,
        "",
        f"One sequence of {100 if args.smoke else STEPS:,} steps, each waiting for its answer, "
        "on one connection:",
        "",
        "| how | ms a step | steps/s against unary |",
        "| --- | ---: | ---: |",
        *step_rows,
        "",
        f"{live:,} live sequences in memory: {per_live:,.0f} bytes of RSS each "
        f"({per_live * 1e6 / 2**20:,.0f} MiB for a million).",
        "",
        "Against the targets:",
        f"- in memory: {memory.requests_per_s / client.requests_per_s:.0%} of the client-held "
        "req/s (target 95%)",
        f"- in Redis: {redis.requests_per_s / client.requests_per_s:.0%} (target 85%)",
        f"- p99: {memory.p99_ms / client.p99_ms:.2f}x and {redis.p99_ms / client.p99_ms:.2f}x "
        "the client-held (target 1.5x)",
        f"- a WebSocket step against a unary REST step: {unary / websocket:.2f}x (target 2x)",
    ]
    print("\n".join(lines))
    if not args.smoke:
        REPORT.write_text(
            "# Live sequences\n\nMeasured by `make bench` (`python -m bench.sequences`), all in "
            "one run; bench/sequences.py says how.\n\n" + "\n".join(lines) + "\n"
        )


if __name__ == "__main__":
    main()
