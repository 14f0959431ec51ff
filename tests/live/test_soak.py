"""A soak test: locust, headless, bounded users and time, against a real server on 127.0.0.1.
Zero failures, and resident memory stays flat once warm.

`make test` runs it for 20 s (a smoke: the last quarter's memory against the second's);
`make soak` for SOAK_S=300 s, long enough for a trend: the slope of resident memory after the
first minute, fitted by least squares, stays under SLOPE_MB_PER_MIN (.ci/run runs it)."""

from __future__ import annotations

import csv
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from tests.support.servers import ROOT, Server

SECONDS = float(os.environ.get("SOAK_S", "20"))
TREND_FROM_S = 120  # runs this long or longer are judged by their slope
SLOPE_MB_PER_MIN = 1.0  # 5 MB over the five minutes of `make soak`


def resident_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def test_soak_with_locust(tmp_path):
    with Server() as server:
        locust = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "locust",
                "-f",
                "bench/locustfile.py",
                "--headless",
                "--users",
                "16",
                "--spawn-rate",
                "16",
                "--run-time",
                f"{SECONDS:g}s",
                "--host",
                server.url,
                "--csv",
                str(tmp_path / "soak"),
                "--only-summary",
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        samples, started = [], time.monotonic()
        while locust.poll() is None:
            samples.append((time.monotonic() - started, resident_mb(server.process.pid)))
            time.sleep(0.5)
        _, errors = locust.communicate()

    with open(tmp_path / "soak_stats.csv") as handle:
        total = next(row for row in csv.DictReader(handle) if row["Name"] == "Aggregated")
    assert int(total["Failure Count"]) == 0, errors[-2000:]
    assert int(total["Request Count"]) > 1000
    if SECONDS >= TREND_FROM_S:
        warm = np.array([(t, mb) for t, mb in samples if t >= 60])
        slope = np.polyfit(warm[:, 0] / 60, warm[:, 1], 1)[0]
        print(
            f"soak: {SECONDS:g} s, {total['Request Count']} requests, resident memory "
            f"{warm[0, 1]:.1f} -> {warm[-1, 1]:.1f} MB, slope {slope:+.3f} MB/min"
        )
        assert slope < SLOPE_MB_PER_MIN, samples
        return
    # Flat: the last quarter's median within 10% (or 15 MB) of the second quarter's.
    memory = [mb for _, mb in samples]
    quarter = len(memory) // 4
    warm_mb = statistics.median(memory[quarter : 2 * quarter])
    late_mb = statistics.median(memory[3 * quarter :])
    assert late_mb - warm_mb < max(15.0, 0.1 * warm_mb), memory
