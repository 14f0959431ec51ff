"""The HTTP floor: a bare ASGI app on the same uvicorn (uvloop, httptools) that reads the body
and answers a constant JSON document. No server on this stack can be faster.
Run: uvicorn bench.floor_app:app"""

from __future__ import annotations

from typing import Any

BODY = b'{"model":"floor","version":"1","outputs":[[[0.0]]],"state":[[0.0]]}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
