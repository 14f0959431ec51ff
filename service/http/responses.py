"""The one place arrays go back to JSON: orjson writes NumPy arrays directly."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
from starlette.responses import Response

from rnn_serve.service import tracing
from rnn_serve.service.http.workers import BodyWorkers

# Answers of up to this many numbers are written on the event loop (about 0.3 ms for 32 K);
# larger ones in a worker process, beside it (a 256x400x7 answer takes about 37 ms).
INLINE_ANSWER_NUMBERS = 32 << 10
CONTENT_TYPE = (b"content-type", b"application/json")
SEQUENCES, NESTED = (list, tuple), (dict, list, tuple, np.ndarray)  # tuples: no union per call


class JsonAnswer(Response):
    """A JSON answer with its headers written at once: Starlette's Response looks its media
    type and the headers it was given over on every answer."""

    media_type = "application/json"

    def __init__(self, body: bytes, status_code: int = 200) -> None:
        self.status_code = status_code
        self.background = None
        self.body = body
        self.raw_headers = [CONTENT_TYPE, (b"content-length", b"%d" % len(body))]


def json_response(payload: object, status_code: int = 200) -> Response:
    return JsonAnswer(dumps(payload), status_code)


async def json_answer(workers: BodyWorkers, payload: object) -> Response:
    """``json_response``, written in a worker process when the answer is large."""
    if numbers(payload) <= INLINE_ANSWER_NUMBERS:
        return JsonAnswer(dumps(payload))
    with tracing.span("write answer in a worker process"):
        written = await workers.run(dumps, payload)
    return JsonAnswer(written)


def dumps(payload: object) -> bytes:
    return orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY)


def numbers(payload: Any) -> int:
    """About how many numbers ``payload`` holds: its arrays' sizes, and lists of plain values
    by their length (without looking at each value)."""
    if isinstance(payload, np.ndarray):
        return int(payload.size)
    if isinstance(payload, dict):
        values: Any = payload.values()
    elif isinstance(payload, SEQUENCES) and payload and isinstance(payload[0], NESTED):
        values = payload
    elif isinstance(payload, SEQUENCES):
        return len(payload)
    else:
        return 1
    total = 0
    for value in values:  # arrays and plain values here: a call each costs more than this
        if isinstance(value, np.ndarray):
            total += value.size
        elif isinstance(value, NESTED):
            total += numbers(value)
        else:
            total += 1
    return total
