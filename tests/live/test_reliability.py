"""Overload and graceful shutdown, against real uvicorn processes."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.support.models import write_random_model
from tests.support.raw_http import raw_request
from tests.support.servers import ON_THE_CPU, Server, wait_for
from tests.support.sigterm_load import HEAVY, LONG_INPUTS, in_flight, stop_under_load

HEAVY_INPUTS = {"inputs": [[[0.1]] * 200] * 4}  # ~40 ms on the heavy model


@pytest.fixture(scope="module")
def heavy_models(tmp_path_factory) -> Path:
    """A model slow enough that requests are still running when the test acts."""
    directory = tmp_path_factory.mktemp("heavy")
    write_random_model(directory / "heavy.onnx", 1, [("rnn", 768)], [1])
    return directory


def post(url: str) -> httpx.Response:
    return httpx.post(url, json=HEAVY_INPUTS, timeout=60)


def burst(heavy_models: Path, count: int, **settings: str) -> tuple[list[httpx.Response], str]:
    """``count`` heavy predictions, 16 at a time, on a server with these settings (batching
    off); every answer, and the metrics once all are in."""
    env = os.environ | ON_THE_CPU
    env |= {"RNN_SERVE_MODEL_DIR": str(heavy_models), "RNN_SERVE_BATCHING": "false"}
    with Server(env | {f"RNN_SERVE_{k.upper()}": v for k, v in settings.items()}) as server:
        url = server.url + "/v1/models/heavy/predict"
        with ThreadPoolExecutor(16) as pool:
            responses = list(pool.map(lambda _: post(url), range(count)))
        return responses, httpx.get(server.url + "/metrics").text


def refusals(responses: list[httpx.Response]) -> list[httpx.Response]:
    """The 503s, after checking that every answer is a 200 or a 503 and that ten or more
    were refused."""
    statuses = [r.status_code for r in responses]
    assert set(statuses) == {200, 503} and statuses.count(503) >= 10, statuses
    return [r for r in responses if r.status_code == 503]


def histogram(metrics: str, name: str) -> dict[str, float]:
    """A histogram's cumulative counts by upper bound, from a Prometheus scrape."""
    prefix = f"{name}_bucket{{"
    return {
        line.split('le="')[1].split('"')[0]: float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith(prefix)
    }


def test_overload_gets_an_immediate_503_with_retry_after(heavy_models):
    responses, metrics = burst(heavy_models, 32, max_pending="2")
    refused = refusals(responses)
    assert refused[0].headers["retry-after"] == "1"
    assert refused[0].json()["error"] == "overloaded: 2 requests are already waiting for inference"
    # Refusals are quick, by the server's own clock (from arrival to answer): far faster than
    # waiting for the queue ahead would be.
    counts = histogram(metrics, "rnn_serve_overload_refusal_seconds")
    assert counts["0.05"] == counts["+Inf"] == len(refused)


def test_a_request_that_would_wait_past_max_queue_ms_is_refused_with_retry_after(heavy_models):
    responses, metrics = burst(heavy_models, 48, max_queue_ms="100")
    for response in refusals(responses):
        assert int(response.headers["retry-after"]) >= 1
        assert "the bound is 100 ms" in response.json()["error"]
    # the work queued is back to nothing once the burst is served
    (line,) = [x for x in metrics.splitlines() if x.startswith("rnn_serve_queued_work_seconds ")]
    assert line == "rnn_serve_queued_work_seconds 0.0", line


def test_sigterm_under_load_loses_no_accepted_request(heavy_models):
    env = os.environ | ON_THE_CPU
    env |= {
        "RNN_SERVE_MODEL_DIR": str(heavy_models),
        "RNN_SERVE_GRACEFUL_TIMEOUT": "90",  # what is in flight finishes on a slow machine too
        "RNN_SERVE_MAX_QUEUE_MS": "60000",  # the load waits behind the long request
    }
    server = Server(env)

    def stop() -> str:
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=120) == 0, server.output()[-2000:]
        return server.output()

    try:
        server.wait_ready()
        stop_under_load(server.url, stop)  # request ids matched between client and server log
    finally:
        if server.process.poll() is None:
            server.process.kill()


def test_a_request_past_the_graceful_timeout_is_told_the_server_shut_down(heavy_models):
    """What uvicorn cancels when RNN_SERVE_GRACEFUL_TIMEOUT ends gets a 503 that says so, not
    a bare 500."""
    env = os.environ | ON_THE_CPU
    env |= {"RNN_SERVE_MODEL_DIR": str(heavy_models), "RNN_SERVE_GRACEFUL_TIMEOUT": "1"}
    server = Server(env)
    try:
        server.wait_ready()
        with ThreadPoolExecutor(1) as pool:
            longer = {"inputs": [[[0.1]] * 10000] * 16}  # seconds alone: past the timeout
            long = pool.submit(lambda: httpx.post(server.url + HEAVY, json=longer, timeout=60))
            wait_for(lambda: in_flight(server.url) >= 1, "the long request to be admitted")
            server.process.send_signal(signal.SIGTERM)
            answer = long.result()
        assert server.process.wait(timeout=60) == 0, server.output()[-2000:]
    finally:
        if server.process.poll() is None:
            server.process.kill()
    assert answer.status_code == 503, answer.text
    assert answer.json()["error"] == "the server shut down before this request finished"
    assert "timeout graceful shutdown exceeded" in server.output()


def test_a_client_that_sends_expect_100_continue_is_refused_before_its_body(heavy_models):
    """When the admitted work is already past the bound, the refusal goes out before the
    body is asked for: the client never sends it."""
    env = os.environ | ON_THE_CPU
    env |= {"RNN_SERVE_MODEL_DIR": str(heavy_models), "RNN_SERVE_MAX_PENDING": "1"}
    with Server(env) as server, ThreadPoolExecutor(1) as pool:
        url = server.url + "/v1/models/heavy/predict"
        long = pool.submit(lambda: httpx.post(url, json=LONG_INPUTS, timeout=60))
        wait_for(lambda: in_flight(server.url) >= 1, "the long request to be admitted")
        sock = raw_request(server.port, 1_000_000, expect=True, path=HEAVY)
        answer = b""
        while b"waiting for inference" not in answer and (chunk := sock.recv(4096)):
            answer += chunk
        sock.close()
        assert answer.startswith(b"HTTP/1.1 503"), answer  # no "100 Continue" before it
        assert b"1 requests are already waiting for inference" in answer
        assert long.result().status_code == 200
        metrics = httpx.get(server.url + "/metrics").text
    assert 'rnn_serve_overload_refusal_seconds_bucket{le="0.05"} 1.0' in metrics


def _expecting(port: int, length: int) -> tuple[socket.socket, bytes]:
    """A request to the heavy model that announces ``length`` bytes and waits for 100
    Continue; the socket and the server's first answer (100 Continue, or a refusal)."""
    sock = raw_request(port, length, expect=True, path=HEAVY)
    sock.settimeout(30)  # its own answer comes after seconds of inference
    answer = b""
    while b"\r\n\r\n" not in answer and (chunk := sock.recv(4096)):
        answer += chunk
    return sock, answer


def _reserved_s(url: str) -> float:
    metrics = httpx.get(url + "/metrics").text
    (line,) = [x for x in metrics.splitlines() if x.startswith("rnn_serve_reserved_work_seconds ")]
    return float(line.split()[1])


def _steadily(sock: socket.socket, data: bytes) -> None:
    for start in range(0, len(data), 8192):  # a part every 10 ms: never stalled
        sock.sendall(data[start : start + 8192])
        time.sleep(0.01)


@pytest.mark.parametrize("silent_bytes", [200_000, 2_000_000], ids=["small", "read-in-turns"])
def test_a_client_told_to_continue_holds_its_work_until_its_body_stops(heavy_models, silent_bytes):
    """A client told to send its body reserves the work it announced: clients that wait for
    100 Continue while it uploads are refused before their bodies, those that send their
    bodies at once are not, and it is not refused once its body is in. A body that does not
    come holds nothing after a moment."""
    env = os.environ | ON_THE_CPU
    env |= {"RNN_SERVE_MODEL_DIR": str(heavy_models), "RNN_SERVE_MAX_QUEUE_MS": "200"}
    body = json.dumps({"inputs": [[[0.1]] * 4000] * 8}).encode()  # seconds of inference
    with Server(env) as server:
        url = server.url + "/v1/models/heavy/predict"
        assert httpx.post(url, json=HEAVY_INPUTS, timeout=60).status_code == 200  # learnt

        uploading, answer = _expecting(server.port, len(body))
        assert answer == b"HTTP/1.1 100 Continue\r\n\r\n"
        half = len(body) // 2
        _steadily(uploading, body[:half])
        assert _reserved_s(server.url) > 0.2
        refused, answer = _expecting(server.port, len(body))
        refused.close()
        assert answer.startswith(b"HTTP/1.1 503"), answer  # no 100 Continue before it
        with ThreadPoolExecutor(1) as pool:  # one that sends its body at once is served
            plain = pool.submit(lambda: httpx.post(url, json=HEAVY_INPUTS, timeout=60))
            _steadily(uploading, body[half:])
            assert plain.result().status_code == 200
        with uploading, uploading.makefile("rb") as reply:
            assert reply.readline().startswith(b"HTTP/1.1 200"), "refused after its upload"
        assert _reserved_s(server.url) == 0

        silent, answer = _expecting(server.port, silent_bytes)  # told to continue, sends nothing
        with silent:
            assert answer == b"HTTP/1.1 100 Continue\r\n\r\n"
            time.sleep(0.5)
            assert httpx.post(url, json=HEAVY_INPUTS, timeout=60).status_code == 200
            after, answer = _expecting(server.port, len(body))
            after.close()
            assert answer == b"HTTP/1.1 100 Continue\r\n\r\n"
