"""A POST written by hand on a socket, for what HTTP clients hide: a body announced and not
sent, ``Expect: 100-continue``, an answer read before the body is done."""

from __future__ import annotations

import socket


def raw_request(
    port: int,
    length: int,
    body: bytes = b"",
    expect: bool = False,
    close: bool = False,
    path: str = "/v1/models/seed-demo/predict",
) -> socket.socket:
    """A POST to ``path`` that declares ``length`` bytes and sends ``body`` of them, left open;
    with ``expect``, it waits for 100 Continue before sending the rest, as curl does; with
    ``close``, it asks for the connection to close after the answer."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\n"
        + ("Expect: 100-continue\r\n" if expect else "")
        + ("Connection: close\r\n" if close else "")
        + "\r\n"
    )
    sock.sendall(head.encode() + body)
    return sock
