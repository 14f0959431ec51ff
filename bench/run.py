"""`make bench`: rnn-serve against its baselines, on one core, driven by wrk from the other.

Prints a table and the target ratios, all measured in this one run, and writes
docs/benchmarks.md with a plot. `--smoke` runs a few one-second cases and writes nothing.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench import converted, core, inprocess, padding, workers
from bench.load import OURS, OURS_ENV, PORT, ROOT, Result, Server, server, uvicorn, wrk
from bench.payloads import Payload, infer_path, json_body, payloads, predict_path
from bench.profile import LOG_ON, LOGGED
from bench.report import write_report

BodyFor = Callable[[Payload], tuple[bytes, dict[str, str]]]


@dataclass
class Run:
    seconds: float
    concurrency: tuple[int, ...]
    payloads: list[Payload]
    results: dict[tuple[str, str, int], Result] = field(default_factory=dict)
    in_process: dict[str, float] = field(default_factory=dict)

    def measure(
        self,
        system: str,
        target: Server,
        path_for: Callable[[Payload], str],
        body_for: BodyFor,
        only: tuple[str, int] | None = None,
    ) -> None:
        """wrk against every payload and concurrency, or just ``only`` (payload, connections)."""
        for payload in self.payloads:
            body, headers = body_for(payload)
            for connections in self.concurrency:
                if only and (payload.name, connections) != only:
                    continue
                result = wrk(target, path_for(payload), body, headers, connections, self.seconds)
                self.results[(system, payload.name, connections)] = result
                print(
                    f"{system:>14} {payload.label:>12} c={connections:<3} "
                    f"{result.requests_per_s:9.0f} req/s  p50 {result.p50_ms:7.2f} ms  "
                    f"p99 {result.p99_ms:7.2f} ms  cpu {result.cpu_ms_per_request:6.3f} ms"
                    + (f"  ERRORS {result.errors}" if result.errors else ""),
                    flush=True,
                )


def root(_: Payload) -> str:
    return "/"


def measure_all(run: Run) -> None:
    with server(uvicorn("bench.floor_app:app", PORT), PORT, {}, "/") as floor:
        run.measure("http floor", floor, root, json_body)
    with server(uvicorn("bench.floor_app:fastapi_app", PORT), PORT, {}, "/docs") as floor:
        run.measure("fastapi floor", floor, root, json_body)
    with server(uvicorn("bench.naive_app:app", PORT), PORT, {}, "/docs") as naive:
        run.measure("naive fastapi", naive, predict_path, json_body)
    with server(OURS, PORT, OURS_ENV, "/v2/health/ready") as ours:
        run.measure("rnn-serve v1", ours, predict_path, json_body)
        run.measure("rnn-serve v2", ours, infer_path, lambda p: p.v2_binary())
    with server(OURS, PORT, LOG_ON, "/v2/health/ready") as ours:
        run.measure(LOGGED, ours, predict_path, json_body, only=("small", 8))
    unbatched = OURS_ENV | {"RNN_SERVE_BATCHING": "false"}
    with server(OURS, PORT, unbatched, "/v2/health/ready") as ours:
        run.measure("batching off", ours, predict_path, json_body, only=("small", 32))
    for payload in run.payloads:
        run.in_process[payload.name] = inprocess.calls_per_second(payload, min(run.seconds, 3))
        print(f"{'in-process':>14} {payload.label:>12} {run.in_process[payload.name]:9.0f} calls/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5, help="length of each wrk run")
    parser.add_argument("--smoke", action="store_true", help="a few 1 s runs; writes nothing")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args()
    if args.smoke:
        run = Run(1, (8, 32), payloads()[:1])
    else:
        run = Run(args.seconds, (1, 8, 32), payloads())
    measure_all(run)
    if args.smoke:
        core_lines = converted.main(seconds=1)
    else:
        core_lines = [
            *core.main(),
            "",
            *padding.main(),
            "",
            *workers.main(),
            "",
            *converted.main(args.seconds),
        ]
    print(write_report(run, None if args.smoke else args.out, core_lines))


if __name__ == "__main__":
    main()
