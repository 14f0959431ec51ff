"""The bound on request bodies in flight, on a real server: bytes counted as they arrive, not
as announced; past the bound a 503 at once, and the rest of the body is never kept."""

from __future__ import annotations

import json
import os
import socket
import time

import httpx
import pytest

from tests.support.raw_http import raw_request
from tests.support.servers import Server

BOUND = 100_000
BODY = json.dumps({"inputs": [[[0.25, 0.5, 0.75]] * 2000]}).encode()  # about 50 KB


def status_of(sock: socket.socket) -> tuple[int, bytes]:
    """The status and the whole answer, up to the server closing or the body's end."""
    answered = answer_of(sock)
    sock.close()
    return answered


def answer_of(sock: socket.socket) -> tuple[int, bytes]:
    """The next answer on ``sock``, which stays open."""
    answer = b""
    while b"\r\n\r\n" not in answer or len(answer.partition(b"\r\n\r\n")[2]) < _length(answer):
        chunk = sock.recv(65536)
        if not chunk:
            break
        answer += chunk
    return int(answer.split(b" ", 2)[1]), answer


def _length(answer: bytes) -> int:
    for line in answer.partition(b"\r\n\r\n")[0].lower().split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return int(line.split(b":")[1])
    return 1 << 30


def test_bodies_are_counted_as_they_arrive_not_as_announced():
    env = os.environ | {"RNN_SERVE_MAX_INFLIGHT_BYTES": str(BOUND), "RNN_SERVE_ACCESS_LOG": "0"}
    with Server(env) as server:
        assert len(BODY) < BOUND
        # two clients announce the largest bodies allowed and send nothing: they hold nothing
        silent = [raw_request(server.port, 16 << 20) for _ in range(2)]
        held = raw_request(server.port, len(BODY), BODY[:1000])  # one half sent holds its part
        url = f"{server.url}/v1/models/seed-demo/predict"
        assert httpx.post(url, content=BODY).status_code == 200
        too_big = b'{"inputs": [[[' + b"0," * (BOUND // 2) + b"0]]]}"  # alone over the bound
        refused = httpx.post(url, content=too_big)
        assert refused.status_code == 503  # read and dropped: the client reads its answer
        assert refused.headers["retry-after"] == "1"
        assert (
            "bytes of request bodies are in flight, the bound is 100000" in refused.json()["error"]
        )
        held.sendall(BODY[1000:])  # the first finishes
        assert status_of(held)[0] == 200
        assert httpx.post(url, content=BODY).status_code == 200
        for sock in silent:
            sock.close()


def test_a_refusal_is_answered_before_the_body_is_sent_and_the_connection_ends_cleanly():
    env = os.environ | {"RNN_SERVE_MAX_INFLIGHT_BYTES": str(BOUND), "RNN_SERVE_ACCESS_LOG": "0"}
    first = b"x" * (BOUND + 1000)  # past the bound by its first part
    small = 2 * BOUND  # under DISCARD_BYTES: the rest is read and dropped
    with Server(env) as server:
        # closing: the 503 is sent while the rest of the body is unsent, and a client that
        # sends it all before reading (as most do) can: the connection then ends, not resets
        closing = raw_request(server.port, small, first, close=True)
        closing.sendall(b"x" * (small - len(first)))
        status, answer = answer_of(closing)
        assert status == 503 and b"the bound is 100000" in answer
        started = time.monotonic()
        assert closing.recv(1) == b""  # an end of stream, not a reset ...
        assert time.monotonic() - started < 2  # ... once the body has ended, not at a timeout
        closing.close()
        # kept alive: the rest of the body is skipped, and the next request is answered
        kept = raw_request(server.port, small, first)
        assert answer_of(kept)[0] == 503
        kept.sendall(b"x" * (small - len(first)))
        kept.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n")
        status, answer = answer_of(kept)
        assert status == 200 and answer.endswith(b'{"live":true}')
        kept.close()
        metrics = httpx.get(f"{server.url}/metrics").text
    # each refusal was counted once (how fast they go out is bench/burst.py's to measure)
    assert "rnn_serve_overload_refusal_seconds_count 2.0" in metrics


def test_a_refused_large_body_is_never_read_and_its_client_still_reads_the_answer():
    """Past DISCARD_BYTES the refusal closes the connection and the server stops reading: the
    client's upload stops at a full window (a broken pipe for one that sends all before it
    reads) and its answer is there to read. httpx, requests and curl read it so."""
    env = os.environ | {"RNN_SERVE_MAX_INFLIGHT_BYTES": str(BOUND), "RNN_SERVE_ACCESS_LOG": "0"}
    large = 16 << 20  # the largest body allowed, and more than the socket buffers take
    first = b"x" * (BOUND + 1000)
    with Server(env) as server:
        sock = raw_request(server.port, large, first)  # kept alive, as far as it asked
        with pytest.raises((BrokenPipeError, ConnectionResetError)):
            sock.sendall(b"x" * (large - len(first)))
        status, answer = answer_of(sock)
        sock.close()
        assert status == 503 and b"the bound is 100000" in answer
        assert b"connection: close" in answer.lower()
        url = f"{server.url}/v1/models/seed-demo/predict"
        refused = httpx.post(
            url, content=b"x" * large, headers={"Content-Type": "application/json"}
        )
        assert refused.status_code == 503 and refused.headers["connection"] == "close"
        assert httpx.post(url, content=BODY).status_code == 200
