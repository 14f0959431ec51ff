"""`python -m bench.in_app`: the app's own CPU per small /v1 request, without a socket or an
HTTP parser. The whole ASGI stack (request ids, metrics, the dispatcher, the handler, the
engine, the batcher, ONNX Runtime, JSON both ways) is called in process by 8 callers at once,
pinned to one core, as wrk's 8 connections drive the server in `make profile`.

On these machines wrk's figures move by 10% from one run to the next; this one moves by a few
percent, so a change to the stack can be told from the noise. uvicorn's part is what `make
profile` shows beside it. Costs here are those of a server, not of a loop over one function:
between inferences that evict the caches, parsing a small body took twice its time alone.

With ``--calls``, one more round counts the Python calls each request makes, by function (a
coroutine's every resumption counts as a call, as the interpreter reports it): in the flow
each costs about a microsecond, many times its cost in a loop of its own (docs/performance.md).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import functools
import os
import sys
import time
from types import FrameType
from typing import Any

import uvloop

from bench.profile import SMALL
from rnn_serve.service.app import create_app
from rnn_serve.service.settings import Settings

CALLERS = 8


async def cpu_per_request(
    requests: int, rounds: int, calls: collections.Counter[str] | None = None
) -> list[float]:
    """Seconds of CPU per request, for each round of ``requests`` per caller; then, given
    ``calls``, one more round whose Python calls it counts."""
    app = create_app(Settings())
    body = SMALL.v1_json()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": f"/v1/models/{SMALL.model}/predict",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def caller() -> None:
        statuses: list[int] = []

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        for _ in range(requests):
            await app(dict(scope), receive, send)
        if set(statuses) != {200} or len(statuses) != requests:
            raise RuntimeError(f"the app answered {sorted(set(statuses))}")

    found = []
    async with app.router.lifespan_context(app):
        for _ in range(rounds):
            started = time.process_time()
            await asyncio.gather(*(caller() for _ in range(CALLERS)))
            found.append((time.process_time() - started) / (CALLERS * requests))
        if calls is not None:
            sys.setprofile(functools.partial(_count, calls))
            try:
                await asyncio.gather(*(caller() for _ in range(CALLERS)))
            finally:
                sys.setprofile(None)
    return found


def _count(calls: collections.Counter[str], frame: FrameType, event: str, arg: Any) -> None:
    if event == "call":
        code = frame.f_code
        calls[f"{code.co_filename.rpartition('site-packages/')[2]}: {code.co_qualname}"] += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000, help="per caller and round")
    parser.add_argument("--rounds", type=int, default=4, help="the first warms up")
    parser.add_argument("--calls", type=int, default=0, help="print the N most called functions")
    args = parser.parse_args()
    os.environ.setdefault("RNN_SERVE_ORT_THREADS", "1")
    os.sched_setaffinity(0, {0})
    calls: collections.Counter[str] | None = collections.Counter() if args.calls else None
    rounds = uvloop.run(cpu_per_request(args.requests, args.rounds, calls))
    print(f"{SMALL.label}, {CALLERS} callers in process, CPU per request (us):")
    print(", ".join(f"{seconds * 1e6:.1f}" for seconds in rounds))
    print(f"best after the first: {min(rounds[1:] or rounds) * 1e6:.1f} us")
    if calls is not None:
        made = CALLERS * args.requests
        print(f"Python calls per request: {calls.total() / made:.1f}; the most called:")
        for name, count in calls.most_common(args.calls):
            print(f"{count / made:6.2f}  {name}")


if __name__ == "__main__":  # the body workers are spawned: they import this module too
    main()
