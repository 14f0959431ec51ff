"""The in-process floor: the service's own predictor (both graphs, chosen by batch size)
called directly, answers encoded with orjson. No HTTP server can beat it."""

from __future__ import annotations

import os
import time

import orjson

from bench.load import ROOT
from bench.payloads import Payload
from rnn_serve.service.runtime.loader import load_models

ARTIFACTS = ROOT / "model" / "artifacts"


def calls_per_second(payload: Payload, seconds: float) -> float:
    os.sched_setaffinity(0, {0})  # the server's core
    try:
        models = load_models(ARTIFACTS, ["CPUExecutionProvider"], threads=1)
        predictor = models[payload.model].predictor
        calls, started = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - started) < seconds:
            outputs, state = predictor.run(payload.array)
            orjson.dumps({"outputs": outputs, "state": state}, option=orjson.OPT_SERIALIZE_NUMPY)
            calls += 1
        return calls / elapsed
    finally:
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
