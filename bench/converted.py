"""Converted models next to co2: a Keras GRU and a PyTorch LSTM (both hidden 32, one feature,
a Dense head, as `rnn-serve convert` writes them), and a bare RNN-operator ONNX file of hidden
64 whose batch graph the service builds at load. `python -m bench.converted`

For each: wrk against the server on one core (small JSON requests at c=32, 64x48 binary /v2
batches at c=8), the server's CPU per request, and in-process ms per 64x48 call on each graph.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from functools import partial
from pathlib import Path

import numpy as np
import onnx
import torch

from bench.core import seconds_per_call
from bench.load import OURS, OURS_ENV, PORT, ROOT, server, wrk
from bench.payloads import Payload, infer_path, json_body, predict_path
from rnn_serve.graphs.native import native_graph
from rnn_serve.model.convert import Target, convert
from rnn_serve.model.reference import random_stack
from rnn_serve.service.runtime.loader import load_models

os.environ.setdefault("KERAS_BACKEND", "torch")
ARTIFACTS = ROOT / "model" / "artifacts"
HIDDEN = 32
MODELS = {
    "co2": "shipped: rnn(32) + dense, trained",
    "keras-gru": "Keras GRU(32) + Dense(1), converted",
    "torch-lstm": "PyTorch LSTM(32) + Linear(1), converted",
    "bare-rnn64": "bare ONNX RNN operator (64), batch graph built at load",
}


def build(directory: Path) -> None:
    import keras

    for name in ("co2.json", "co2.onnx", "co2.scan.onnx"):
        shutil.copy(ARTIFACTS / name, directory / name)
    sources = directory / "sources"
    sources.mkdir()
    keras.utils.set_random_seed(0)
    gru = keras.Sequential(
        [
            keras.Input((None, 1)),
            keras.layers.GRU(HIDDEN, return_sequences=True),
            keras.layers.Dense(1),
        ]
    )
    gru.save(sources / "gru.keras")
    convert(sources / "gru.keras", Target("keras-gru", directory, window=48))
    torch.manual_seed(0)
    lstm = torch.nn.ModuleDict(
        {"lstm": torch.nn.LSTM(1, HIDDEN, batch_first=True), "head": torch.nn.Linear(HIDDEN, 1)}
    )
    torch.save(lstm.state_dict(), sources / "lstm.pt")
    convert(sources / "lstm.pt", Target("torch-lstm", directory, window=48))
    stack = random_stack(np.random.default_rng(0), 1, [("rnn", 64)], [1], scale=0.1)
    onnx.save(native_graph(stack), directory / "bare-rnn64.onnx")


def in_process_ms(directory: Path) -> dict[str, tuple[float, float]]:
    """ms per 64x48 call on the operator graph and on the loop graph, per model."""
    os.sched_setaffinity(0, {0})
    try:
        models = load_models(directory, ["CPUExecutionProvider"], threads=1)
        inputs = np.random.default_rng(0).normal(size=(64, 48, 1)).astype(np.float32)
        timings = {}
        for name in MODELS:
            predictor = models[name].predictor
            timings[name] = tuple(
                1000 * seconds_per_call(partial(session.run, None, _feeds(predictor, inputs)))
                for session in (predictor.session, predictor.batched_session)
            )
        return timings  # type: ignore[return-value]
    finally:
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))


def _feeds(predictor, inputs: np.ndarray) -> dict[str, np.ndarray]:
    return {"inputs": inputs, "initial_state": predictor.zero_state(len(inputs))}


def main(seconds: float = 5) -> list[str]:
    rng = np.random.default_rng(0)
    small = rng.normal(size=(1, 48, 1)).astype(np.float32)
    large = rng.normal(size=(64, 48, 1)).astype(np.float32)
    lines = [
        "### Converted models next to co2 (`python -m bench.converted`)",
        "",
        "| model | small 1x48 v1 c=32 | large 64x48 v2 binary c=8 | server CPU per large "
        "| in-process 64x48: operator graph | loop graph |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        build(directory)
        timings = in_process_ms(directory)
        env = OURS_ENV | {"RNN_SERVE_MODEL_DIR": str(directory)}
        with server(OURS, PORT, env, "/v2/health/ready") as ours:
            for name, what in MODELS.items():
                body, _ = json_body(Payload("small", name, small))
                fast = wrk(ours, predict_path(Payload("small", name, small)), body, {}, 32, seconds)
                batch = Payload("large", name, large)
                raw, headers = batch.v2_binary()
                big = wrk(ours, infer_path(batch), raw, headers, 8, seconds)
                operator_ms, loop_ms = timings[name]
                row = (
                    f"| {name}: {what} | {fast.requests_per_s:,.0f} req/s | "
                    f"{big.requests_per_s:,.0f} req/s | {big.cpu_ms_per_request:.2f} ms | "
                    f"{operator_ms:.2f} ms | {loop_ms:.2f} ms |"
                )
                print(row, flush=True)
                lines.append(row)
    return lines


if __name__ == "__main__":
    print("\n".join(main()))
