"""The HTTP floors: constant JSON answers after reading the body, on the same uvicorn (uvloop,
httptools). ``app`` is a bare ASGI app: no Python server on this stack can be faster.
``fastapi_app`` is one FastAPI route: the floor for a FastAPI service.
Run: uvicorn bench.floor_app:app (or :fastapi_app)"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

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


fastapi_app = FastAPI()


@fastapi_app.post("/")
async def constant(request: Request) -> Response:
    await request.body()
    return Response(BODY, media_type="application/json")
