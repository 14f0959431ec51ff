"""`make profile`: where the server's CPU time per small /v1 request goes, beside the floor, all
from one run. Prints it and writes docs/profile.md.

Each measurement is wrk at c=8 on core 1 against a server pinned to core 0 (bench/load.py), on
the small request (the co2 model, a (1, 48, 1) JSON body):
- the floor: a bare ASGI app that reads the body and answers a constant on the same uvicorn
  (bench/floor_app.py), plus the model called in process (bench/inprocess.py);
- rnn-serve with the access log on (the default) and off;
these in turn, ``--rounds`` times, the best of each kept: the machine's speed drifts by more
than the changes being measured, and the floor taken minutes before the server would carry the
drift into their ratio;
- then, with the log on, py-spy samples the server while wrk runs again, and each sample goes to
  the part of the server it was in: the first of PARTS that one of its frames belongs to,
  looking from the innermost frame outwards (a `json.dumps` called by the access log is the
  access log's). The shares of the samples, times the CPU per request measured without the
  sampler, give each part's microseconds.
"""

from __future__ import annotations

import argparse
import collections
import math
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench import inprocess
from bench.load import LOAD_CORE, OURS, OURS_ENV, PORT, ROOT, Result, server, uvicorn, wrk
from bench.payloads import json_body, payloads, predict_path

LOG_ON = OURS_ENV | {"RNN_SERVE_LOG_LEVEL": "info"}  # OURS_ENV logs warnings alone
LOGGED = "rnn-serve, access log on"
BARE = "bare ASGI app, constant answer"
GUARDED = "the same app on rnn-serve's connection (its timeouts and limits)"
# (part, where its frames are): a frame "function (path:line)" belongs to a part when its path
# contains one of these. Checked in this order for each frame.
PARTS: list[tuple[str, tuple[str, ...]]] = [
    ("ONNX Runtime", ("onnxruntime/", "runtime/predictor.py")),
    ("access log", ("logging/", "service/logs.py")),
    ("metrics", ("prometheus_client/", "service/metrics.py")),
    ("admission and pace", ("engine/admission.py", "engine/pace.py")),
    ("batcher", ("engine/batching.py",)),
    ("hand-off to the inference threads", ("engine/threads.py", "concurrent/futures/")),
    (
        "JSON in: read and validate",
        ("http/body.py", "http/inputs_only.py", "http/tensors.py", "pydantic"),
    ),
    ("JSON out", ("http/responses.py", "orjson")),
    ("handler and engine", ("http/v1.py", "service/engine/", "http/routing.py")),
    ("dispatcher", ("http/dispatch.py", "starlette/datastructures.py")),
    ("middleware: ids, keys, drain", ("http/middleware.py", "starlette/", "fastapi/")),
    ("uvicorn: HTTP parsing, the transport", ("uvicorn/", "http/connection.py", "httptools")),
    ("event loop", ("asyncio/", "uvloop")),
]
OTHER = "other"
GUARD = ["--http", "rnn_serve.service.http.connection:GuardedHttpTools"]
SMALL = next(payload for payload in payloads() if payload.name == "small")


def part_of(stack: str) -> str:
    """The part of a py-spy raw stack ("outer;...;inner"), from its innermost frame outwards."""
    for frame in reversed(stack.split(";")):
        for part, places in PARTS:
            if any(place in frame for place in places):
                return part
    return OTHER


def sampled(pid: int, seconds: int) -> str:
    """py-spy's raw stacks of ``pid`` for ``seconds`` (threads waiting are left out), py-spy
    on the load generator's core."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "stacks.txt"
        record = ["record", "--pid", str(pid), "--rate", "500", "--duration", str(seconds)]
        raw = ["--format", "raw", "--nonblocking", "--output", str(out)]
        subprocess.run(
            ["taskset", "-c", LOAD_CORE, py_spy, *record, *raw],
            check=True,
            capture_output=True,
        )
        return out.read_text()


def shares(raw: str) -> dict[str, float]:
    counts: collections.Counter[str] = collections.Counter()
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack:
            counts[part_of(stack)] += int(count)
    total = sum(counts.values()) or 1
    return {part: count / total for part, count in counts.most_common()}


def measure(seconds: float, rounds: int) -> tuple[dict[str, Result], float, dict[str, float]]:
    """The floor's parts and the server's figures, each measured in turn ``rounds`` times, the
    best of each kept (a figure taken minutes after another would carry the machine's drift
    into their ratio); then the server sampled."""
    body, headers = json_body(SMALL)
    path = predict_path(SMALL)
    results: dict[str, Result] = {}
    call_s = math.inf

    def keep(name: str, result: Result) -> None:
        if name not in results or result.cpu_ms_per_request < results[name].cpu_ms_per_request:
            results[name] = result

    for _ in range(rounds):
        with server(uvicorn("bench.floor_app:app", PORT), PORT, {}, "/") as floor:
            keep(BARE, wrk(floor, "/", body, headers, 8, seconds))
        with server(uvicorn("bench.floor_app:app", PORT) + GUARD, PORT, {}, "/") as floor:
            keep(GUARDED, wrk(floor, "/", body, headers, 8, seconds))
        call_s = min(call_s, 1 / inprocess.calls_per_second(SMALL, min(seconds, 3)))
        with server(OURS, PORT, OURS_ENV, "/v2/health/ready") as ours:
            keep("rnn-serve, access log off", wrk(ours, path, body, headers, 8, seconds))
        with server(OURS, PORT, LOG_ON, "/v2/health/ready") as ours:
            keep(LOGGED, wrk(ours, path, body, headers, 8, seconds))
    with server(OURS, PORT, LOG_ON, "/v2/health/ready") as ours, ThreadPoolExecutor(1) as pool:
        stacks = pool.submit(sampled, ours.process.pid, int(seconds) - 1)
        wrk(ours, path, body, headers, 8, seconds)
        found = shares(stacks.result())
    return results, call_s, found


def floor_lines(results: dict[str, Result], call_s: float) -> list[str]:
    """The floor (a bare ASGI app's CPU per request plus the call in process) and each of
    ``results`` against it, as a table."""
    floor = results[BARE].cpu_ms_per_request + call_s * 1000
    lines = [
        "| c=8, small /v1 request (1, 48, 1) | req/s | server CPU per request, ms | of the floor |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, result in results.items():
        cpu = result.cpu_ms_per_request
        lines.append(f"| {name} | {result.requests_per_s:,.0f} | {cpu:.3f} | {cpu / floor:.2f} |")
    return [
        *lines,
        f"| the model called in process (ONNX Runtime, answer encoded) | {1 / call_s:,.0f} | "
        f"{call_s * 1000:.3f} | {call_s * 1000 / floor:.2f} |",
        f"| **floor**: bare ASGI app + the call in process | | {floor:.3f} | 1.00 |",
        "",
        "Target: rnn-serve with the access log on at most 1.5 times the floor.",
    ]


def report(results: dict[str, Result], call_s: float, found: dict[str, float]) -> list[str]:
    logged = results[LOGGED].cpu_ms_per_request * 1000
    return [
        *floor_lines(results, call_s),
        "",
        "| part of the server (access log on) | share of its samples | us per request |",
        "| --- | ---: | ---: |",
        *(f"| {part} | {share:.1%} | {share * logged:.1f} |" for part, share in found.items()),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=8, help="length of each wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="turns of every measurement")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "profile.md")
    args = parser.parse_args()
    lines = report(*measure(args.seconds, args.rounds))
    print("\n".join(lines))
    command = "make profile  # python -m bench.profile"
    args.out.write_text(
        "# Where a small request's time goes\n\n"
        f"Written by `{command}`: every figure below is from one run, the best of "
        f"{args.rounds} turns of each (bench/profile.py says how each is taken).\n\n"
        + "\n".join(lines)
        + "\n"
    )


if __name__ == "__main__":
    main()
