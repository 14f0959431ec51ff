"""Draining on shutdown, on a real server: after SIGTERM, readiness fails at once while new
connections keep being answered (each answer closing its connection) for RNN_SERVE_DRAIN_S;
then new connections are refused, a request on a connection still open gets a 503 that closes
it, and the process finishes and exits 0."""

from __future__ import annotations

import os
import signal
import threading
import time

import httpx
import pytest

from tests.support.servers import Server, wait_for

DRAIN_S = 3.0
PREDICT = "/v1/models/seed-demo/predict"
STEP = {"inputs": [[[0.1, 0.2, 0.3]]]}


def test_after_sigterm_new_connections_are_answered_until_the_drain_ends():
    env = os.environ | {"RNN_SERVE_DRAIN_S": str(DRAIN_S), "RNN_SERVE_ACCESS_LOG": "0"}
    server = Server(env)
    with server:
        outcomes: list[tuple[float, str, str | None]] = []
        stop = threading.Event()

        def new_connections() -> None:
            while not stop.is_set():
                with httpx.Client(timeout=10) as client:  # a connection of its own each time
                    try:
                        response = client.post(server.url + PREDICT, json=STEP)
                        outcome = str(response.status_code), response.headers.get("connection")
                    except httpx.TransportError as error:
                        outcome = type(error).__name__, None
                outcomes.append((time.monotonic(), *outcome))

        stream = threading.Thread(target=new_connections)
        stream.start()
        wait_for(lambda: len(outcomes) >= 3, "answers before SIGTERM")
        before = len(outcomes)  # all answered before the signal
        server.process.send_signal(signal.SIGTERM)
        wait_for(lambda: "SIGTERM: not ready" in server.output(), "the drain to start")
        drained_from = len(outcomes) + 1  # the one in flight may have been read before
        readiness = httpx.get(server.url + "/v2/health/ready", timeout=5)
        wait_for(lambda: len(outcomes) >= drained_from + 5, "answers during the drain")
        stop.set()  # while the drain still runs: DRAIN_S is far longer
        stream.join()
        assert server.process.wait(timeout=60) == 0
        log = server.output()
    assert readiness.status_code == 503 and readiness.json() == {"ready": False}
    assert {status for _, status, _ in outcomes} == {"200"}, outcomes  # none unanswered
    assert all(connection == "close" for _, _, connection in outcomes[drained_from:])
    assert all(connection != "close" for _, _, connection in outcomes[:before])
    assert "SIGTERM: not ready; serving 3 s more" in log


def test_a_request_on_a_connection_kept_open_through_the_drain_gets_503_and_close():
    env = os.environ | {"RNN_SERVE_DRAIN_S": "0.5", "RNN_SERVE_ACCESS_LOG": "0"}
    server = Server(env)
    with server, httpx.Client(timeout=10) as client:
        assert client.post(server.url + PREDICT, json=STEP).status_code == 200  # kept alive
        server.process.send_signal(signal.SIGTERM)
        wait_for(lambda: "drained: not accepting" in server.output(), "the drain to end")
        with pytest.raises(httpx.ConnectError):
            httpx.post(server.url + PREDICT, json=STEP)  # a new connection: refused
        # the idle pooled connection is reused (a new one would be refused, as above)
        late = client.post(server.url + PREDICT, json=STEP)
        assert server.process.wait(timeout=30) == 0
    assert late.status_code == 503 and late.headers["connection"] == "close"
    assert late.headers["retry-after"] == "1"
    assert late.json()["error"] == "the server is shutting down: retry on a new connection"
