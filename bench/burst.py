"""A burst of heavy requests, with admission by expected wait and without it, in one run.

256 requests of seed-demo inputs of 256x400x3 (about 3.4 MB of JSON each), 64 at a time,
against the server with its default settings: from clients that send their bodies at once,
from clients that wait for 100 Continue, and from clients that, refused, try again after the
Retry-After (the burst then ends when every request is answered). Then against the same server
with the wait and bytes bounds out of the way, with bodies read in worker processes and, as
before them, on the inference thread. Prints, for each: what was admitted and refused, how fast
refusals came (at the client, and within 50 ms of arrival by the server's own clock), the
admitted requests' latency, and the inference work served per second (rows x steps of the
answered requests), against admission by count as before. Results go to docs/reliability.md.

    python -m bench.burst            # about three minutes on 2 cores
    python -m bench.burst --smoke    # 32 requests, to show it works
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from dataclasses import dataclass

import httpx
import numpy as np
import uvloop

from bench.load import OURS, OURS_ENV, PORT, ROOT, server

SHAPE = (256, 400, 3)
BEFORE = "by count only, bodies read on the inference thread (as before)"
UNBOUNDED = {"RNN_SERVE_MAX_QUEUE_MS": "1e9", "RNN_SERVE_MAX_INFLIGHT_BYTES": str(1 << 40)}
REPORT = ROOT / "docs" / "reliability.md"
REFUSALS = "rnn_serve_overload_refusal_seconds"
REFUSAL_BOUND_S = 0.05  # the issue's target for a refusal, and a bucket of that histogram


@dataclass(frozen=True)
class Outcome:
    status: int
    seconds: float
    retry_after: str | None


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
    work_per_s: float  # rows x steps answered per second
    other: int

    def row(self, name: str) -> str:
        return (
            f"| {name} | {self.admitted} | {self.refused} | {self.refusal_max_ms:.1f} | "
            f"{self.refused_in_bound_at_server} | {self.with_retry_after} | {self.p50_s:.2f} | "
            f"{self.p99_s:.2f} | {self.max_s:.2f} "
            f"| {self.work_per_s / 1e6:.2f} M | {self.other} |"
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
    return Outcome(status, time.perf_counter() - started, headers.get("retry-after"))


async def _head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name:
            headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers


async def burst(
    port: int, body: bytes, count: int, concurrency: int, expect: bool, retry: bool = False
) -> tuple[list[Outcome], float]:
    """``count`` requests, ``concurrency`` at a time: every attempt's outcome. With ``retry``
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
    return [attempt for attempts in outcomes for attempt in attempts], time.perf_counter() - started


def summarize(outcomes: list[Outcome], wall_s: float, refusals: dict[str, float]) -> Summary:
    ok = sorted(o.seconds for o in outcomes if o.status == 200)
    refused = [o for o in outcomes if o.status == 503]
    work = len(ok) * SHAPE[0] * SHAPE[1]
    return Summary(
        admitted=len(ok),
        refused=len(refused),
        refusal_max_ms=max((o.seconds for o in refused), default=0.0) * 1000,
        refused_in_bound_at_server=int(refusals.get(str(REFUSAL_BOUND_S), 0)),
        with_retry_after=sum(o.retry_after is not None for o in refused),
        p50_s=float(np.percentile(ok, 50)) if ok else 0.0,
        p99_s=float(np.percentile(ok, 99)) if ok else 0.0,
        max_s=ok[-1] if ok else 0.0,
        work_per_s=work / wall_s,
        other=len(outcomes) - len(ok) - len(refused),
    )


def run(
    env: dict[str, str],
    body: bytes,
    count: int,
    concurrency: int,
    expect: bool = False,
    retry: bool = False,
) -> Summary:
    with server(OURS, PORT, OURS_ENV | env, "/v2/health/ready", cores="0,1") as running:
        uvloop.run(burst(PORT, body, 2, 2, expect))  # warm, out of the count
        outcomes, wall_s = uvloop.run(burst(PORT, body, count, concurrency, expect, retry))
        refusals = _histogram(httpx.get(running.url + "/metrics").text, REFUSALS)
    return summarize(outcomes, wall_s, refusals)


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
    args = parser.parse_args()
    count, concurrency = (32, 16) if args.smoke else (256, 64)
    inputs = np.random.default_rng(0).normal(size=SHAPE).round(3)
    body = '{"inputs": ' + np.array2string(inputs, separator=",", threshold=1 << 30) + "}"
    payload = body.replace("\n", "").replace(" ", "").encode()
    rows = {
        "by expected wait (defaults)": run({}, payload, count, concurrency),
        "by expected wait, clients send Expect: 100-continue": run(
            {}, payload, count, concurrency, expect=True
        ),
        "by expected wait, refused clients retry after Retry-After": run(
            {}, payload, count, concurrency, retry=True
        ),
        "by expected wait, refused clients retry, sending Expect: 100-continue": run(
            {}, payload, count, concurrency, expect=True, retry=True
        ),
        "by count only, bodies read in worker processes": run(
            UNBOUNDED, payload, count, concurrency
        ),
        BEFORE: run(UNBOUNDED | {"RNN_SERVE_BODY_WORKERS": "0"}, payload, count, concurrency),
    }
    head = (
        "| admission | admitted | refused | slowest refusal (ms) | refusals sent within 50 ms "
        "of arrival (server) | refusals with Retry-After "
        "| admitted p50 (s) | p99 (s) | max (s) | work served (rows x steps / s) | other |"
    )
    table = "\n".join(
        [head, "| --- |" + " ---: |" * 10, *(summary.row(name) for name, summary in rows.items())]
    )
    before = rows[BEFORE].work_per_s
    ratios = "work served per second, against admission by count as before:\n\n" + "\n".join(
        f"- {name}: {summary.work_per_s / before:.2f}"
        for name, summary in rows.items()
        if name != BEFORE
    )
    text = (
        f"{count} requests of {len(payload) / 1e6:.1f} MB ({'x'.join(map(str, SHAPE))}, "
        f"seed-demo), {concurrency} at a time, one run:\n\n{table}\n\n{ratios}"
    )
    print(text)
    if not args.smoke:
        REPORT.write_text(_report(text))


def _report(results: str) -> str:
    return (
        "# Reliability under a burst\n\n"
        "`python -m bench.burst` (about three minutes on 2 cores; `--smoke` for a quick check): "
        "the server with its defaults, then with `RNN_SERVE_MAX_QUEUE_MS` and "
        "`RNN_SERVE_MAX_INFLIGHT_BYTES` lifted (admission by count only, as before), on the "
        "same machine, one after the other. The client (raw connections, one per request, on "
        "uvloop) runs on the same 2 cores.\n\n"
        f"{results}\n"
    )


if __name__ == "__main__":
    main()
