"""The event loop stays responsive under load: its lag, as the server measures it, stays under
LAG_BOUND_S at the 95th percentile, under a second always, and behind by BEHIND_BOUND_S in all,
while heavy and small requests run side by side on the 2-core machine (a test client on the same
cores can delay a sample on its own: a percentile, not every sample)."""

from __future__ import annotations

import json
import os
import re
import threading
import time

import httpx
import numpy as np

from tests.support.servers import ON_THE_CPU, Server

# Heavy requests are parsed and run off the loop (body.py: parse, runner.py); what is left on
# it (routing, small inferences, writing answers) takes a few ms at a time. 250 ms is a
# scheduler's hiccup on a loaded 2-core machine, and far below any client's timeout.
LAG_BOUND_S = 0.25
# A heavy body (1536x400x3, 12 MB) parsed on the loop holds it for about 0.55 s at a time, once
# per request, too seldom for the percentile: the time it was behind, in all (the histogram's
# sum), shows it. Measured over LOAD_S: 0.09 to 0.18 s (and, twice in a dozen suite runs on a
# busy machine, a stall to 0.63 and 0.66 s over 4 s); with every body parsed on the loop, 2.05
# to 2.29 s (0.80 to 1.33 s over 4 s, too close to the stalls: hence 6 s).
BEHIND_BOUND_S = 0.8
LOAD_S = 6
# Encoded once: json.dumps of HEAVY takes the client's GIL for over a second, which would starve
# the small requests' threads in this process rather than load the server.
HEAVY = json.dumps(
    {"inputs": np.random.default_rng(0).normal(size=(1536, 400, 3)).round(3).tolist()}
)
SMALL = json.dumps({"inputs": [[[0.1, 0.2, 0.3]] * 8]})


def lag(metrics: str, series: str) -> float:
    """One series of the loop-lag histogram: ``bucket{le="0.25"}``, ``count`` or ``sum``."""
    found = re.search(rf"rnn_serve_event_loop_lag_seconds_{re.escape(series)} (\S+)", metrics)
    assert found is not None, series
    return float(found.group(1))


def test_the_event_loop_lag_stays_under_the_bound_under_load():
    # Admission lifted: the heavy requests are here to load the loop, not to be refused.
    env = (
        os.environ
        | ON_THE_CPU
        | {"RNN_SERVE_ACCESS_LOG": "false", "RNN_SERVE_MAX_QUEUE_MS": "60000"}
    )
    with Server(env) as server:
        url = f"{server.url}/v1/models/seed-demo/predict"
        statuses: list[int] = []
        deadline = time.monotonic() + LOAD_S

        def send(body: str) -> None:
            with httpx.Client(timeout=60, headers={"content-type": "application/json"}) as client:
                while time.monotonic() < deadline:
                    statuses.append(client.post(url, content=body).status_code)

        threads = [threading.Thread(target=send, args=(HEAVY,)) for _ in range(4)]
        threads += [threading.Thread(target=send, args=(SMALL,)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        metrics = httpx.get(f"{server.url}/metrics").text
    total, behind = lag(metrics, "count"), lag(metrics, "sum")
    within = lag(metrics, f'bucket{{le="{LAG_BOUND_S}"}}')
    assert set(statuses) == {200} and len(statuses) > 50
    assert total >= 30  # one sample per 0.1 s
    assert within >= 0.95 * total, f"{total - within:.0f} of {total:.0f} over {LAG_BOUND_S} s"
    assert lag(metrics, 'bucket{le="1.0"}') == total
    assert behind < BEHIND_BOUND_S, f"the loop was {behind:.2f} s behind in all"
