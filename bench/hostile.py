"""Hostile clients beside ordinary ones, in one run: how fast health probes and small
predictions are answered while slow and silent clients hold connections.

The server (its defaults, pinned to core 0) first serves the ordinary client alone, then
beside 300 slow sockets (each sends a header byte a second, and reconnects when the server
cuts it off at the header timeout) and two sockets that announce 16 MiB bodies and send
nothing. The ordinary client (core 1) sends health probes and small (1, 5, 3) predictions one
at a time, on one kept-alive connection. Results go to docs/reliability.md.

    python -m bench.hostile            # about 40 seconds
    python -m bench.hostile --smoke    # a few seconds, to show it works
"""

from __future__ import annotations

import argparse
import asyncio
import os
import threading
import time

import httpx
import numpy as np

from bench.load import OURS, OURS_ENV, PORT, ROOT, server
from bench.report import write_section

REPORT = ROOT / "docs" / "reliability.md"
MARK = "## Hostile clients"
SMALL = {"inputs": [[[0.1, 0.2, 0.3]] * 5]}


async def slow_socket(stop: asyncio.Event) -> None:
    """A header byte a second; reconnects when cut off."""
    while not stop.is_set():
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", PORT)
            writer.write(b"GET /v2/health/live HTTP/1.1\r\n")
            while not stop.is_set():
                writer.write(b"X")
                await writer.drain()
                await asyncio.sleep(1)
        except OSError:
            await asyncio.sleep(0.1)


async def silent_body(stop: asyncio.Event) -> None:
    """Announces the largest body allowed and sends nothing."""
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", PORT)
            writer.write(
                b"POST /v1/models/seed-demo/predict HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/json\r\nContent-Length: 16777216\r\n\r\n"
            )
            await reader.read()  # until the server cuts it off at the body timeout
        except OSError:
            await asyncio.sleep(0.1)


def attack(slow: int, stopped: threading.Event) -> None:
    async def run() -> None:
        stop = asyncio.Event()
        tasks = [asyncio.create_task(slow_socket(stop)) for _ in range(slow)]
        tasks += [asyncio.create_task(silent_body(stop)) for _ in range(2)]
        while not stopped.is_set():
            await asyncio.sleep(0.1)
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(run())


def measure(url: str, count: int) -> dict[str, list[float]]:
    """Latencies (ms) of ``count`` health probes and ``count`` small predictions, alternated;
    any answer but 200 is counted apart."""
    found: dict[str, list[float]] = {"health": [], "predict": [], "failed": []}
    with httpx.Client(base_url=url, timeout=10) as client:
        for _ in range(count):
            for name, call in (
                ("health", lambda: client.get("/v2/health/ready")),
                ("predict", lambda: client.post("/v1/models/seed-demo/predict", json=SMALL)),
            ):
                started = time.perf_counter()
                status = call().status_code
                found[name if status == 200 else "failed"].append(
                    (time.perf_counter() - started) * 1000
                )
            time.sleep(0.01)
    return found


def row(name: str, found: dict[str, list[float]]) -> str:
    cells = [
        f"{np.percentile(found[kind], 50):.2f} / {np.percentile(found[kind], 99):.2f}"
        for kind in ("health", "predict")
    ]
    return f"| {name} | {cells[0]} | {cells[1]} | {len(found['failed'])} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    slow, count = (20, 50) if args.smoke else (300, 1000)
    os.sched_setaffinity(0, {1})  # the clients on core 1, the server on core 0
    with server(OURS, PORT, OURS_ENV, "/v2/health/ready") as running:
        alone = measure(running.url, count)
        stopped = threading.Event()
        attacker = threading.Thread(target=attack, args=(slow, stopped))
        attacker.start()
        time.sleep(3)  # every slow socket connected
        beside = measure(running.url, count)
        stopped.set()
        attacker.join()
    table = "\n".join(
        [
            "| ordinary client | health p50 / p99 (ms) | small predict p50 / p99 (ms) | not 200 |",
            "| --- | ---: | ---: | ---: |",
            row("alone", alone),
            row(f"beside {slow} slow sockets and 2 silent 16 MiB bodies", beside),
        ]
    )
    print(table)
    if not args.smoke:
        _write(table, slow, count)


def _write(table: str, slow: int, count: int) -> None:
    section = (
        f"{MARK}\n\n`python -m bench.hostile`: {count} health probes and {count} small "
        "predictions, one at a time on a kept-alive connection, against the server with its "
        f"defaults alone, then beside {slow} sockets that send a header byte a second (each "
        "cut off at the header timeout, then back) and 2 that announce 16 MiB bodies and send "
        "nothing. Server on core 0, clients on core 1, one run:\n\n"
        f"{table}\n"
    )
    write_section(REPORT, MARK, section)


if __name__ == "__main__":
    main()
