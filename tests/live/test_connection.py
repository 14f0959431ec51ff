"""The connection's own limits, on a real server (they live in uvicorn's protocol, which no
in-process client reaches): timeouts for headers, bodies and idle connections, bounds on
headers, a connection bound that health probes pass, every refusal in the JSON error body, and
no Server header."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support.servers import Server

LIMITS = {
    "RNN_SERVE_HEADER_TIMEOUT_S": "0.5",
    "RNN_SERVE_BODY_IDLE_TIMEOUT_S": "0.5",
    "RNN_SERVE_BODY_TIMEOUT_S": "1.5",
    "RNN_SERVE_KEEPALIVE_TIMEOUT_S": "0.5",
    "RNN_SERVE_MAX_CONNECTIONS": "20",
    "RNN_SERVE_ACCESS_LOG": "false",
}
PREDICT = "/v1/models/seed-demo/predict"
BODY = b'{"inputs": [[[1, 2, 3]]]}'


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with Server(os.environ | LIMITS) as running:
        yield running


def connect(server: Server, data: bytes = b"") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.sendall(data)
    return sock


def answer(sock: socket.socket) -> tuple[int, dict[str, str], dict]:
    """Status, headers and JSON body of the one answer before the server closes."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, json.loads(body)


def refused(sock: socket.socket, status: int, message: str) -> float:
    """Checks the refusal; the seconds it took."""
    started = time.monotonic()
    code, headers, body = answer(sock)
    assert (code, headers["content-type"], headers["connection"]) == (
        status,
        "application/json",
        "close",
    )
    assert message in body["error"], body
    return time.monotonic() - started


def test_headers_that_never_finish_get_408(server):
    sock = connect(server, b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n")
    assert refused(sock, 408, "the request's headers took longer than 0.5 s") < 5


def test_a_header_a_byte_at_a_time_is_not_waited_on(server):
    sock = connect(server, b"GET /v2/health/live HTTP/1.1\r\n")
    started = time.monotonic()
    with pytest.raises(OSError):  # the server closes under the slow sender
        for byte in b"X-Slow: " + b"a" * 100:
            sock.sendall(bytes([byte]))
            time.sleep(0.1)
    assert time.monotonic() - started < 5


def test_an_idle_connection_is_closed_without_an_answer(server):
    sock = connect(server)
    assert sock.recv(1) == b""  # closed after the header timeout, nothing sent


def test_a_kept_alive_connection_is_closed_when_idle(server):
    sock = connect(server, b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n")
    started, data = time.monotonic(), b""
    while chunk := sock.recv(65536):
        data += chunk
    assert data.startswith(b"HTTP/1.1 200") and data.endswith(b'{"live":true}')
    assert time.monotonic() - started < 4  # uvicorn's own default would be 5 s


def test_a_connection_in_use_outlives_the_keepalive_timeout(server):
    """The idle timer is armed once per idle period, not per request: when it fires on a
    connection answered since, it waits again from the last answer rather than closing."""
    request = b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n"
    answer_bytes = b'{"live":true}'
    sock = connect(server)
    started = time.monotonic()
    while time.monotonic() - started < 2:  # four keep-alive timeouts, a request every 0.2 s
        sock.sendall(request)
        data = b""
        while not data.endswith(answer_bytes):
            chunk = sock.recv(65536)
            assert chunk, "closed while in use"
            data += chunk
        time.sleep(0.2)
    assert sock.recv(1) == b""  # and closed once idle


def test_a_stalled_body_gets_408(server):
    head = f"POST {PREDICT} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(BODY)}\r\n\r\n"
    sock = connect(server, head.encode() + BODY[:5])
    refused(sock, 408, "the request body stalled: nothing for 0.5 s")


def test_a_body_sent_too_slowly_gets_408(server):
    head = f"POST {PREDICT} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(BODY)}\r\n\r\n"
    sock = connect(server, head.encode())
    for byte in BODY[:20]:  # a byte every 0.2 s: never idle for long, too slow in all
        try:
            sock.sendall(bytes([byte]))
        except OSError:
            break
        time.sleep(0.2)
    refused(sock, 408, "the request body took longer than 1.5 s in all")


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        (b"".join(b"X-%d: a\r\n" % i for i in range(101)), "more than 100 headers"),
        (b"X-Big: " + b"a" * 40_000 + b"\r\n", "exceed 32768 bytes"),
    ],
)
def test_too_many_or_too_large_headers_get_431(server, headers, message):
    sock = connect(server, b"GET /v2/health/live HTTP/1.1\r\n" + headers + b"\r\n")
    refused(sock, 431, message)


def test_a_huge_header_is_refused_while_it_arrives(server):
    sock = connect(server, b"GET /v2/health/live HTTP/1.1\r\nX-Big: ")
    sent = 0
    with pytest.raises(OSError):
        while sent < 64 << 20:  # 64 MiB: the server stops it long before
            sock.sendall(b"a" * 65536)
            sent += 65536
    assert sent < 16 << 20


def test_bytes_that_are_not_http_get_a_json_400(server):
    sock = connect(server, b"NOT HTTP AT ALL\r\n\r\n")
    refused(sock, 400, "invalid HTTP request")


def test_past_the_connection_bound_health_still_answers(server):
    idle = [connect(server, b"GET /v2/health/live HTTP/1.1\r\n") for _ in range(25)]
    try:
        time.sleep(0.1)
        crowded = httpx.post(server.url + PREDICT, content=BODY, timeout=10)
        assert crowded.status_code == 503
        assert "20 connections are open (RNN_SERVE_MAX_CONNECTIONS)" in crowded.json()["error"]
        assert crowded.headers["retry-after"] == "1"
        assert httpx.get(server.url + "/v2/health/ready", timeout=10).status_code == 200
        assert httpx.get(server.url + "/v2/health/live", timeout=10).status_code == 200
    finally:
        for sock in idle:
            sock.close()


def test_slow_sockets_leave_others_served(server):
    """Slow senders come and go (each cut off at the header timeout) while others are
    served: health and predictions answer 200 throughout (their latency is measured in
    bench/hostile.py, not here)."""
    stop = threading.Event()

    def slow() -> None:
        while not stop.is_set():
            try:
                sock = connect(server, b"GET /v2/health/live HTTP/1.1\r\n")
                while not stop.is_set():
                    sock.sendall(b"X")
                    time.sleep(0.1)
            except OSError:
                continue

    senders = [threading.Thread(target=slow) for _ in range(10)]
    for sender in senders:
        sender.start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            for _ in range(20):
                assert client.get("/v2/health/ready").status_code == 200
                assert client.post(PREDICT, content=BODY).status_code == 200
                time.sleep(0.05)
    finally:
        stop.set()
        for sender in senders:
            sender.join()


def test_a_real_server_names_no_server_software(shared_server):
    """uvicorn, not the app, would add the Server header: only a real server can show it."""
    for response in (
        httpx.get(f"{shared_server.url}/v2/health/live"),
        httpx.post(f"{shared_server.url}{PREDICT}", content=b"{"),
    ):
        assert "server" not in response.headers, response.headers
