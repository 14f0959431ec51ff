"""What a JSON request costs besides its inference, per body byte: parsing it and answering
it. Timed once at start-up, like the models' inference costs (runtime/cost.py), so that
admission counts a heavy body's work: for a 256x400x3 body of seed-demo, parsing (45 ms) and
writing the answer (37 ms) took thirteen times its inference (6 ms)."""

from __future__ import annotations

import time

import numpy as np
import orjson

from rnn_serve.service.http.responses import json_response
from rnn_serve.service.http.v1 import parse_predict

SAMPLE_SHAPE = (32, 100, 3)  # about 30 KB of JSON: long enough to time, quick to run


def seconds_per_byte(repeats: int = 3) -> float:
    """The best of ``repeats`` timings of a sample body parsed, then its array written back
    as an answer (the outputs of a model are about as many numbers as its inputs)."""
    values = np.random.default_rng(0).normal(size=SAMPLE_SHAPE).round(3)
    body = orjson.dumps({"inputs": values.tolist()})
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        request = parse_predict(body)
        json_response({"outputs": request.inputs})
        best = min(best, time.perf_counter() - started)
    return best / len(body)
