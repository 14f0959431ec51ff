"""Turns one benchmark run into a table, the target ratios, a plot and docs/benchmarks.md."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import onnxruntime

from bench.profile import BARE, LOGGED, floor_lines

SYSTEMS = ("http floor", "fastapi floor", "naive fastapi", "rnn-serve v1", "rnn-serve v2")


def ratios(run: Any) -> list[tuple[str, float, float]]:
    """(what, measured, target) for each target of the performance issue that this run covers."""
    r, floor = run.results, run.in_process

    def rate(system: str, payload: str, c: int) -> float | None:
        result = r.get((system, payload, c))
        return result.requests_per_s if result else None

    def ratio(a: float | None, b: float | None) -> float | None:
        return a / b if a is not None and b else None

    rows: list[tuple[str, float | None, float]] = [
        (
            "small c=8: v1 / naive",
            ratio(rate("rnn-serve v1", "small", 8), rate("naive fastapi", "small", 8)),
            3.0,
        ),
        (
            "small c=8: v1 / HTTP floor, FastAPI",
            ratio(rate("rnn-serve v1", "small", 8), rate("fastapi floor", "small", 8)),
            0.7,
        ),
        (
            "small c=8: v1 / HTTP floor, bare uvicorn",
            ratio(rate("rnn-serve v1", "small", 8), rate("http floor", "small", 8)),
            0.7,
        ),
        (
            "large c=8: v1 / naive",
            ratio(rate("rnn-serve v1", "large", 8), rate("naive fastapi", "large", 8)),
            8.0,
        ),
        (
            "large c=8: v2 binary / in-process",
            ratio(rate("rnn-serve v2", "large", 8), floor.get("large")),
            0.8,
        ),
    ]
    batched, unbatched = r.get(("rnn-serve v1", "small", 32)), r.get(("batching off", "small", 32))
    if batched and unbatched:
        rows.append(
            (
                "small c=32: batching on / off",
                batched.requests_per_s / unbatched.requests_per_s,
                1.5,
            )
        )
        rows.append(("small c=32: p99 off / on", unbatched.p99_ms / batched.p99_ms, 1.0))
    return [(what, found, target) for what, found, target in rows if found is not None]


def table(run: Any) -> str:
    lines = [
        "| system | payload | c | req/s | p50 ms | p99 ms | server CPU ms/req |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    labels = {p.name: p.label for p in run.payloads}
    for (system, payload, c), res in sorted(
        run.results.items(), key=lambda kv: (kv[0][1], kv[0][2], kv[0][0])
    ):
        lines.append(
            f"| {system} | {labels[payload]} | {c} | {res.requests_per_s:,.0f} | "
            f"{res.p50_ms:.2f} | {res.p99_ms:.2f} | {res.cpu_ms_per_request:.3f} |"
        )
    for name, calls in run.in_process.items():
        lines.append(f"| in-process ORT + orjson | {labels[name]} | - | {calls:,.0f} | | | |")
    return "\n".join(lines)


def floor_table(run: Any) -> str:
    """Server CPU per small request against the floor (docs/profile.md breaks it down)."""
    get = run.results.get
    calls = run.in_process.get("small")
    results = {
        BARE: get(("http floor", "small", 8)),
        "rnn-serve, access log off": get(("rnn-serve v1", "small", 8)),
        LOGGED: get((LOGGED, "small", 8)),
    }
    if not calls or None in results.values():
        return ""
    return "\n".join(floor_lines(results, 1 / calls))


def ratio_table(run: Any) -> str:
    lines = ["| ratio | measured | target | met |", "| --- | ---: | ---: | --- |"]
    for what, measured, target in ratios(run):
        lines.append(
            f"| {what} | {measured:.2f} | {target:.2f} | {'yes' if measured >= target else 'NO'} |"
        )
    return "\n".join(lines)


def machine() -> str:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown CPU",
    )
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    return (
        f"{model}, {os.cpu_count()} cores; server pinned to core 0, wrk ({wrk.strip()}) "
        f"on core 1; onnxruntime {onnxruntime.__version__}"
    )


def plot(run: Any, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    payload_names = [p.name for p in run.payloads]
    figure, axes = plt.subplots(1, len(payload_names), figsize=(4 * len(payload_names), 3.6))
    for axis, payload in zip(axes, payload_names, strict=True):
        for system in (*SYSTEMS, "batching off"):
            points = sorted(
                (c, res.requests_per_s)
                for (s, p, c), res in run.results.items()
                if s == system and p == payload
            )
            if points:
                axis.plot(*zip(*points, strict=True), marker="o", label=system)
        if payload in run.in_process:
            axis.axhline(run.in_process[payload], color="grey", linestyle="--", label="in-process")
        axis.set(title=payload, xscale="log", yscale="log", xlabel="connections", ylabel="req/s")
    axes[0].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def write_report(run: Any, out: Path | None, core_lines: list[str]) -> str:
    core = "\n".join(core_lines)
    floor = floor_table(run)
    summary = f"{table(run)}\n\n{ratio_table(run)}\n\n{floor}\n\n{core}\n\nmachine: {machine()}"
    if out is not None:
        image = out.with_suffix(".png")
        plot(run, image)
        out.write_text(
            "# Benchmarks\n\nMeasured by `make bench` (`python -m bench.run`), all in one run.\n\n"
            f"Machine: {machine()}. Each case runs {run.seconds:g} s.\n\n"
            f"## Targets\n\n{ratio_table(run)}\n\n## The floor\n\n{floor}\n\n"
            f"## All cases\n\n{table(run)}\n\n"
            f"![requests per second by concurrency]({image.name})\n\n"
            f"## The inference core (`python -m bench.core`)\n\n{core}\n"
        )
    return summary


def write_section(path: Path, heading: str, section: str) -> None:
    """Puts ``section`` (which starts with ``heading``, a "## " line) in the Markdown file at
    ``path``: in place of the section of that heading, or at the end; the others are kept."""
    before, found, after = path.read_text().partition(heading)
    rest = after.partition("\n## ")[2] if found else ""
    text = before.rstrip("\n") + "\n\n" + section.rstrip("\n") + "\n"
    path.write_text(text + (f"\n## {rest}" if rest else ""))
