"""A burst of heavy requests, with admission on (as shipped) and lifted, in one run.

256 requests of seed-demo inputs of 256x400x3 (about 3.4 MB of JSON each), 64 at a time, from
each of five client shapes: raw connections that send their bodies at once, that wait for 100
Continue, that retry after the Retry-After (with and without Expect), and 64 threads of httpx
that send at once and never retry, as most application code does. Each shape meets the server
as shipped, then the same server with MAX_QUEUE_MS, MAX_PENDING and MAX_INFLIGHT_BYTES lifted,
then a bare server that only reads the bodies (bench/upload_floor.py): the uploads' own cost.
Prints, for each: what was served and refused, how fast refusals came (at the client, and
within 50 ms of arrival by the server's own clock), the served requests' latency, and served
requests per second; then, per shape, shipped against lifted. Results go to
docs/reliability.md.

    python -m bench.burst            # about ten minutes on 2 cores
    python -m bench.burst --smoke    # 32 requests, to show it works
    python -m bench.burst --max-queue-ms 1000 --shape "raw, retry after Retry-After"
                                     # another bound, some shapes (printed only)
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import numpy as np
import uvloop

from bench.load import OURS, OURS_ENV, PORT, ROOT, server

SHAPE = (256, 400, 3)
LIFTED = {
    "RNN_SERVE_MAX_QUEUE_MS": "1e9",
    "RNN_SERVE_MAX_PENDING": "1000000",
    "RNN_SERVE_MAX_INFLIGHT_BYTES": str(1 << 40),
}
SHAPES = {  # name: (client, expect, retry)
    "raw, body at once": ("raw", False, False),
    "raw, Expect: 100-continue": ("raw", True, False),
    "raw, retry after Retry-After": ("raw", False, True),
    "raw, Expect and retry": ("raw", True, True),
    "httpx, 64 threads, no Expect, no retry": ("httpx", False, False),
}
REPORT = ROOT / "docs" / "reliability.md"
UPLOAD_FLOOR = [sys.executable, "-m", "bench.upload_floor"]
REFUSALS = "rnn_serve_overload_refusal_seconds"
REFUSAL_BOUND_S = 0.05  # the issue's target for a refusal, and a bucket of that histogram


@dataclass(frozen=True)
class Outcome:
    status: int
    seconds: float
    retry_after: str | None
    ended: float  # time.perf_counter() at the answer


@dataclass(frozen=True)
class Summary:
    admitted: int
    refused: int
    refusal_max_ms: float
    refused_in_bound_at_server: int  # sent within REFUSAL_BOUND_S of arrival, by the server
    with_retry_after: int
    p50_s: float
    p99_s: float
    max_s: float
    served_per_s: float
    first_answer_s: float  # from the burst's start to the first request served
    other: int

    def row(self, name: str) -> str:
        return (
            f"| {name} | {self.admitted} | {self.refused} | {self.refusal_max_ms:.1f} | "
            f"{self.refused_in_bound_at_server} | {self.with_retry_after} | {self.p50_s:.2f} | "
            f"{self.p99_s:.2f} | {self.max_s:.2f} | {self.served_per_s:.2f} | "
            f"{self.first_answer_s:.2f} | {self.other} |"
        )


async def post(port: int, body: bytes, expect: bool) -> Outcome:
    """One POST on its own connection, from a raw client (lighter than httpx on the same
    cores); with ``expect`` it sends ``Expect: 100-continue``, as curl does for bodies over
    1 MB, and its body only after the server's 100 Continue."""
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = (
        "POST /v1/models/seed-demo/predict HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        + ("Expect: 100-continue\r\n" if expect else "")
        + "\r\n"
    ).encode()
    writer.write(head)
    if not expect:
        writer.write(body)
    status, headers = await _head(reader)
    if status == 100:
        writer.write(body)
        status, headers = await _head(reader)
    await reader.readexactly(int(headers.get("content-length", "0")))
    writer.close()
    ended = time.perf_counter()
    return Outcome(status, ended - started, headers.get("retry-after"), ended)


async def _head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name:
            headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers


def threads(port: int, body: bytes, count: int, concurrency: int) -> tuple[list[Outcome], float]:
    """``count`` requests from ``concurrency`` threads of httpx, a new connection each, no
    Expect, no retry: what most application code sends. Their outcomes, and when they began."""
    url = f"http://127.0.0.1:{port}/v1/models/seed-demo/predict"

    def one(_: int) -> Outcome:
        started = time.perf_counter()
        try:
            response = httpx.post(
                url, content=body, headers={"Content-Type": "application/json"}, timeout=300
            )
        except httpx.HTTPError:
            response = None
        ended = time.perf_counter()
        if response is None:
            return Outcome(0, ended - started, None, ended)
        return Outcome(
            response.status_code, ended - started, response.headers.get("retry-after"), ended
        )

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        outcomes = list(pool.map(one, range(count)))
    return outcomes, started


async def burst(
    port: int, body: bytes, count: int, concurrency: int, expect: bool, retry: bool = False
) -> tuple[list[Outcome], float]:
    """``count`` requests, ``concurrency`` at a time: every attempt's outcome, and when they
    began. With ``retry``
    a refused client tries again after its Retry-After (and up to half as long again, so that
    refused clients do not all return at once), until answered."""
    gate = asyncio.Semaphore(concurrency)
    jitter = random.Random(0)

    async def one() -> list[Outcome]:
        attempts = []
        async with gate:
            while True:
                attempts.append(await post(port, body, expect))
                last = attempts[-1]
                if not (retry and last.status == 503 and last.retry_after):
                    return attempts
                await asyncio.sleep(float(last.retry_after) * jitter.uniform(1, 1.5))

    started = time.perf_counter()
    outcomes = await asyncio.gather(*(one() for _ in range(count)))
    return [attempt for attempts in outcomes for attempt in attempts], started


def summarize(outcomes: list[Outcome], started: float, refusals: dict[str, float]) -> Summary:
    """What a burst that began at ``started`` (time.perf_counter()) got."""
    ok = sorted(o.seconds for o in outcomes if o.status == 200)
    served = sorted(o.ended for o in outcomes if o.status == 200)
    refused = [o for o in outcomes if o.status == 503]
    wall_s = max(o.ended for o in outcomes) - started
    return Summary(
        admitted=len(ok),
        refused=len(refused),
        refusal_max_ms=max((o.seconds for o in refused), default=0.0) * 1000,
        refused_in_bound_at_server=int(refusals.get(str(REFUSAL_BOUND_S), 0)),
        with_retry_after=sum(o.retry_after is not None for o in refused),
        p50_s=float(np.percentile(ok, 50)) if ok else 0.0,
        p99_s=float(np.percentile(ok, 99)) if ok else 0.0,
        max_s=ok[-1] if ok else 0.0,
        served_per_s=len(ok) / wall_s,
        first_answer_s=served[0] - started if served else 0.0,
        other=len(outcomes) - len(ok) - len(refused),
    )


def run(
    env: dict[str, str], body: bytes, count: int, concurrency: int, shape: str, bare: bool = False
) -> Summary:
    """The burst from ``shape`` against the server with ``env``, or against the bare server
    of bench/upload_floor.py (``bare``)."""
    client, expect, retry = SHAPES[shape]
    command = [*UPLOAD_FLOOR, str(PORT)] if bare else OURS
    with server(command, PORT, OURS_ENV | env, "/v2/health/ready", cores="0,1") as running:
        uvloop.run(burst(PORT, body, 2, 2, expect))  # warm, out of the count
        if client == "httpx":
            outcomes, started = threads(PORT, body, count, concurrency)
        else:
            outcomes, started = uvloop.run(burst(PORT, body, count, concurrency, expect, retry))
        metrics = "" if bare else httpx.get(running.url + "/metrics").text
    return summarize(outcomes, started, _histogram(metrics, REFUSALS))


def _histogram(metrics: str, name: str) -> dict[str, float]:
    """A histogram's cumulative counts by upper bound, from a Prometheus scrape."""
    counts = {}
    for line in metrics.splitlines():
        if line.startswith(f"{name}_bucket{{"):
            labels, value = line.rsplit(" ", 1)
            counts[labels.split('le="')[1].split('"')[0]] = float(value)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument(
        "--max-queue-ms",
        type=float,
        help="the shipped server with this bound instead of its default (printed, not written)",
    )
    parser.add_argument("--shape", choices=SHAPES, action="append", help="these shapes only")
    args = parser.parse_args()
    count, concurrency = (32, 16) if args.smoke else (256, 64)
    inputs = np.random.default_rng(0).normal(size=SHAPE).round(3)
    body = '{"inputs": ' + np.array2string(inputs, separator=",", threshold=1 << 30) + "}"
    payload = body.replace("\n", "").replace(" ", "").encode()
    shapes = args.shape or (list(SHAPES)[-1:] if args.smoke else list(SHAPES))
    bound = {} if args.max_queue_ms is None else {"RNN_SERVE_MAX_QUEUE_MS": str(args.max_queue_ms)}
    results = {
        shape: (
            run(bound, payload, count, concurrency, shape),
            run(LIFTED, payload, count, concurrency, shape),
            run({}, payload, count, concurrency, shape, bare=True),
        )
        for shape in shapes
    }
    head = (
        "| client, server | served | refused | slowest refusal (ms) | refusals sent within "
        "50 ms of arrival (server) | refusals with Retry-After | served p50 (s) | p99 (s) "
        "| max (s) | served req/s | first served (s) | other |"
    )
    rows = [head, "| --- |" + " ---: |" * 11]
    for shape, (shipped, lifted, bare) in results.items():
        rows += [
            shipped.row(f"{shape}, as shipped"),
            lifted.row(f"{shape}, lifted"),
            bare.row(f"{shape}, uploads only (bare server)"),
        ]
    targets = [
        "| client | served p99 shipped / lifted / uploads only (s) | served req/s shipped / "
        "lifted |",
        "| --- | ---: | ---: |",
        *(
            f"| {shape} | {shipped.p99_s:.2f} / {lifted.p99_s:.2f} / {bare.p99_s:.2f} "
            f"| {shipped.served_per_s / lifted.served_per_s:.2f} |"
            for shape, (shipped, lifted, bare) in results.items()
        ),
    ]
    text = (
        f"{count} requests of {len(payload) / 1e6:.1f} MB ({'x'.join(map(str, SHAPE))}, "
        f"seed-demo), {concurrency} at a time, one run:\n\n" + "\n".join(rows) + "\n\n"
        "Shipped against lifted, per client:\n\n" + "\n".join(targets)
    )
    print(text)
    if not (args.smoke or args.shape or bound):
        REPORT.write_text(_report(text) + _kept(REPORT.read_text()))


def _report(results: str) -> str:
    return (
        "# Reliability under a burst\n\n"
        "`python -m bench.burst` (about ten minutes on 2 cores; `--smoke` for a quick "
        "check): the server as shipped, then with `RNN_SERVE_MAX_QUEUE_MS`, "
        "`RNN_SERVE_MAX_PENDING` and `RNN_SERVE_MAX_INFLIGHT_BYTES` lifted, then a bare server "
        "that reads each body and answers at once (`bench/upload_floor.py`: what the uploads "
        "alone take), for each client shape, one after the other on the same machine. The "
        "clients run on the same 2 cores."
        f"\n\n{results}\n"
    )


def _kept(text: str) -> str:
    """The sections after the burst's own (bench/hostile.py writes one)."""
    rest = text.partition("\n## Hostile clients")[2]
    return f"\n## Hostile clients{rest}" if rest else ""


if __name__ == "__main__":
    main()
