"""The event loop stays responsive under load: its lag, as the server measures it, stays under
LAG_BOUND_S at the 95th percentile, and under a second always, while heavy and small requests
run side by side on the 2-core machine (a test client on the same cores can delay a sample on
its own: a percentile, not every sample)."""

from __future__ import annotations

import os
import re
import threading
import time

import httpx
import numpy as np

from tests.service.conftest import ON_THE_CPU, Server

# Heavy requests are parsed and run off the loop (body.py: parse, runner.py); what is left on
# it (routing, small inferences, writing answers) takes a few ms at a time. 250 ms is a
# scheduler's hiccup on a loaded 2-core machine, and far below any client's timeout.
LAG_BOUND_S = 0.25
HEAVY = {"inputs": np.random.default_rng(0).normal(size=(64, 400, 3)).round(3).tolist()}
SMALL = {"inputs": [[[0.1, 0.2, 0.3]] * 8]}


def lag_samples(metrics: str, bound: float) -> tuple[float, float]:
    """(samples at or under ``bound``, all samples) from the histogram."""
    within = re.search(rf'rnn_serve_event_loop_lag_seconds_bucket{{le="{bound}"}} (\S+)', metrics)
    total = re.search(r"rnn_serve_event_loop_lag_seconds_count (\S+)", metrics)
    assert within is not None and total is not None
    return float(within.group(1)), float(total.group(1))


def test_the_event_loop_lag_stays_under_the_bound_under_load():
    env = os.environ | ON_THE_CPU | {"RNN_SERVE_ACCESS_LOG": "false"}
    with Server(env) as server:
        url = f"{server.url}/v1/models/seed-demo/predict"
        statuses: list[int] = []
        deadline = time.monotonic() + 4

        def send(body: dict) -> None:  # type: ignore[type-arg]
            with httpx.Client(timeout=60) as client:
                while time.monotonic() < deadline:
                    statuses.append(client.post(url, json=body).status_code)

        threads = [threading.Thread(target=send, args=(HEAVY,)) for _ in range(4)]
        threads += [threading.Thread(target=send, args=(SMALL,)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        metrics = httpx.get(f"{server.url}/metrics").text
    within, total = lag_samples(metrics, LAG_BOUND_S)
    assert set(statuses) == {200} and len(statuses) > 50
    assert total >= 30  # one sample per 0.1 s
    assert within >= 0.95 * total, f"{total - within:.0f} of {total:.0f} over {LAG_BOUND_S} s"
    assert lag_samples(metrics, 1.0)[0] == total
