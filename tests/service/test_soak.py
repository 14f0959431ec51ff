"""A soak test: locust, headless, bounded users and time, against a real server on 127.0.0.1.
Zero failures, and resident memory stays flat once warm."""

from __future__ import annotations

import csv
import statistics
import subprocess
import sys
import time
from pathlib import Path

from tests.service.conftest import ROOT, Server

SECONDS = 20


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
                f"{SECONDS}s",
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
        samples = []
        while locust.poll() is None:
            samples.append(resident_mb(server.process.pid))
            time.sleep(0.5)
        _, errors = locust.communicate()

    with open(tmp_path / "soak_stats.csv") as handle:
        total = next(row for row in csv.DictReader(handle) if row["Name"] == "Aggregated")
    assert int(total["Failure Count"]) == 0, errors[-2000:]
    assert int(total["Request Count"]) > 1000
    # Flat: the last quarter's median within 10% (or 15 MB) of the second quarter's.
    quarter = len(samples) // 4
    warm = statistics.median(samples[quarter : 2 * quarter])
    late = statistics.median(samples[3 * quarter :])
    assert late - warm < max(15.0, 0.1 * warm), samples
