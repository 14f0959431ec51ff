"""SIGTERM under load, for a real server process and for the container alike: one long request
known to be in flight, a load from a second process waiting behind it, then the stop. Every
request the server read must be answered 200 and received; the rest were never read.

    python -m tests.support.sigterm_load URL CONTAINER GRACE_S   # the container (docker-test.sh)
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.support.servers import wait_for

LONG_INPUTS = {"inputs": [[[0.1]] * 4000] * 16}  # ~10 s under the load
NOT_ACCEPTED = {"ConnectError", "RemoteProtocolError", "ReadError"}  # no response at all
HEAVY = "/v1/models/heavy/predict"


def in_flight(url: str) -> float:
    metrics = httpx.get(url + "/metrics").text
    (line,) = [x for x in metrics.splitlines() if x.startswith("rnn_serve_inflight_requests ")]
    return float(line.split()[1])


def stop_under_load(url: str, stop: Callable[[], str]) -> None:
    """Runs the scenario against the server at ``url`` (serving the heavy model, with a long
    MAX_QUEUE_MS); ``stop()`` sends SIGTERM, waits for the exit and returns the server's log.
    Raises AssertionError naming what was lost."""
    with ThreadPoolExecutor(1) as pool:
        long = pool.submit(
            lambda: httpx.post(
                url + HEAVY, json=LONG_INPUTS, headers={"X-Request-ID": "long"}, timeout=120
            )
        )
        wait_for(lambda: in_flight(url) >= 1, "the long request to be admitted")
        # 12 s of load from 6 threads: longer than the long request, so that the load meets
        # the closed listener once its requests in flight are answered
        load = subprocess.Popen(
            [sys.executable, str(Path(__file__).parent / "load_worker.py"), url + HEAVY, "12", "6"],
            stdout=subprocess.PIPE,
            text=True,
        )
        wait_for(lambda: in_flight(url) >= 3, "the load's requests to be admitted")
        sigterm_at = time.time()
        assert not long.done(), "the long request ended before SIGTERM: make it longer"
        output = stop()
        client_lines = load.communicate(timeout=60)[0]
        long_answer = long.result()
    check(long_answer, client_lines, output, sigterm_at)


def check(long: httpx.Response, client_lines: str, output: str, sigterm_at: float) -> None:
    # A 500 here is uvicorn's, for a request cancelled at the end of RNN_SERVE_GRACEFUL_TIMEOUT.
    assert long.status_code == 200, f"the request in flight at SIGTERM got {long.status_code}"
    outcomes = {e["id"]: e for e in map(json.loads, client_lines.splitlines())}
    served = {
        e["request_id"]: e["status"]
        for e in map(json.loads, filter(lambda line: line.startswith("{"), output.splitlines()))
        if e.get("logger") == "rnn_serve.access" and e["request_id"].startswith(("load-", "long"))
    }
    assert served.pop("long") == 200
    assert served, "the server logged no request of the load"
    # Every request the server accepted was answered 200, and the client received that 200.
    assert set(served.values()) == {200}, served
    assert all(outcomes[i]["outcome"] == "200" for i in served)
    # The rest were never read by the server: refused at connect, or (a connection opened just
    # as the listener closed) dropped before any response. Never a 5xx, never a timeout, and
    # only once SIGTERM was sent.
    failed = [e for i, e in outcomes.items() if i not in served]
    assert failed and {e["outcome"] for e in failed} <= NOT_ACCEPTED, failed[:5]
    assert min(e["at"] for e in failed) >= sigterm_at


def _docker_stop(container: str, grace_s: int) -> Callable[[], str]:
    def stop() -> str:
        subprocess.run(["docker", "stop", "-t", str(grace_s + 5), container], check=True)
        code = subprocess.run(
            ["docker", "inspect", "-f", "{{.State.ExitCode}}", container],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert code == "0", f"the container exited {code} after SIGTERM"
        logs = subprocess.run(["docker", "logs", container], capture_output=True, text=True)
        return logs.stdout + logs.stderr

    return stop


if __name__ == "__main__":
    url, container, grace = sys.argv[1], sys.argv[2], int(sys.argv[3])
    stop_under_load(url, _docker_stop(container, grace))
    print("[docker-test] SIGTERM under load: every request the server read was answered 200")
