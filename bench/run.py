"""`make bench`: rnn-serve against its baselines, on one core, driven by wrk from the other.

Prints a table and the target ratios, all measured in this one run, and writes
docs/benchmarks.md with a plot. `--smoke` runs a few one-second cases and writes nothing.
"""

from __future__ import annotations

import argparse
import platform
from dataclasses import dataclass, field
from pathlib import Path

from bench import inprocess
from bench.load import ROOT, Result, server, uvicorn, wrk
from bench.payloads import Payload, payloads
from bench.report import write_report

PORT = 18765
OURS = [__import__("sys").executable, "-m", "service", "--port", str(PORT)]
OURS_ENV = {"RNN_SERVE_ORT_THREADS": "1", "RNN_SERVE_LOG_LEVEL": "warning"}


@dataclass
class Run:
    seconds: float
    concurrency: tuple[int, ...]
    payloads: list[Payload]
    results: dict[tuple[str, str, int], Result] = field(default_factory=dict)
    in_process: dict[str, float] = field(default_factory=dict)

    def measure(self, system: str, target, path_for, body_for) -> None:
        for payload in self.payloads:
            body, headers = body_for(payload)
            for connections in self.concurrency:
                result = wrk(target, path_for(payload), body, headers, connections, self.seconds)
                self.results[(system, payload.name, connections)] = result
                print(
                    f"{system:>14} {payload.label:>12} c={connections:<3} "
                    f"{result.requests_per_s:9.0f} req/s  p50 {result.p50_ms:7.2f} ms  "
                    f"p99 {result.p99_ms:7.2f} ms  cpu {result.cpu_ms_per_request:6.3f} ms"
                    + (f"  ERRORS {result.errors}" if result.errors else ""),
                    flush=True,
                )


def json_body(payload: Payload) -> tuple[bytes, dict[str, str]]:
    return payload.v1_json(), {}


def predict_path(payload: Payload) -> str:
    return f"/v1/models/{payload.model}/predict"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args()
    run = Run(args.seconds, (1, 8, 32), payloads())
    if args.smoke:
        run = Run(1, (8,), payloads()[:1])

    with server(uvicorn("bench.floor_app:app", PORT), PORT, {}, "/") as floor:
        run.measure("http floor", floor, lambda p: "/", json_body)
    with server(uvicorn("bench.naive_app:app", PORT), PORT, {}, "/docs") as naive:
        run.measure("naive fastapi", naive, predict_path, json_body)
    with server(OURS, PORT, OURS_ENV, "/v2/health/ready") as ours:
        run.measure("rnn-serve v1", ours, predict_path, json_body)
        run.measure(
            "rnn-serve v2", ours, lambda p: f"/v2/models/{p.model}/infer", lambda p: p.v2_binary()
        )
    for payload in run.payloads:
        run.in_process[payload.name] = inprocess.calls_per_second(payload, min(args.seconds, 3))
        print(f"{'in-process':>14} {payload.label:>12} {run.in_process[payload.name]:9.0f} calls/s")

    summary = write_report(run, None if args.smoke else args.out, platform.processor())
    print(summary)


if __name__ == "__main__":
    main()
