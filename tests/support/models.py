"""The shipped models and data the tests share: paths, the seed's batch, the co2 series,
plain ONNX Runtime runs to compare with, random and PyTorch-exported models, trained ones."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort

ARTIFACTS = Path(__file__).resolve().parents[2] / "model" / "artifacts"
SHIPPED = ("co2", "seed-demo")


def provider_in_use() -> str:
    """The provider a server's sessions open on under this run's RNN_SERVE_PROVIDER (the suite
    runs on a GPU too): tests read it rather than assume the CPU."""
    from rnn_serve.service.runtime.providers import name_of, providers_for

    return name_of(providers_for(os.environ.get("RNN_SERVE_PROVIDER", "auto"))[0])  # type: ignore[arg-type]


# The seed's worked example: batch 6, steps 5, features 3, as sliding windows over 1..20.
SEED_BATCH = [[[b + 3 * s + f for f in range(1, 4)] for s in range(5)] for b in range(6)]


@functools.cache
def co2_values() -> np.ndarray:
    """The weekly co2 series as the shipped model was trained on it: gaps interpolated."""
    from rnn_serve.model.series.datasets import co2

    return co2()["co2"].interpolate().bfill().to_numpy(np.float64)


def direct_run(
    name: str, min_batch: int | None = -1, model_dir: Path = ARTIFACTS
) -> Callable[..., tuple[np.ndarray, np.ndarray]]:
    """A plain ONNX Runtime call on the graph a server chooses for the batch size: from
    ``min_batch`` rows on the batched graph (None: never; the default: the manifest's)."""
    manifest = json.loads((model_dir / f"{name}.json").read_text())
    if min_batch == -1:
        min_batch = manifest["batched"]["min_batch"]
    sessions = {
        file: ort.InferenceSession(str(model_dir / file), providers=["CPUExecutionProvider"])
        for file in (manifest["onnx_file"], manifest["batched"]["onnx_file"])
    }

    def run(inputs: np.ndarray, state: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        batched = min_batch is not None and len(inputs) >= min_batch
        session = sessions[manifest["batched"]["onnx_file"] if batched else manifest["onnx_file"]]
        if state is None:
            state = np.zeros((len(inputs), manifest["state_size"]), np.float32)
        outputs, final = session.run(
            ["outputs", "state"], {"inputs": inputs, "initial_state": state}
        )
        return outputs, final

    return run


def write_random_model(
    path: Path, features: int, layers: list[tuple[str, int]], head: list[int] = (), seed: int = 0
) -> None:
    """A bare ONNX file (native operators) of a stack with seeded random weights."""
    import onnx

    from rnn_serve.graphs.native import native_graph
    from rnn_serve.model.reference import random_stack

    stack = random_stack(np.random.default_rng(seed), features, layers, list(head))
    onnx.save(native_graph(stack), path)


def export_with_torch(
    module: object, example: tuple, path: Path, names: tuple[str, str, str, str], state_batch: int
) -> None:
    """PyTorch's own ONNX export of ``module(x, h) -> (y, h)``, as users make them: dynamic
    batch and steps, the state's batch on axis ``state_batch``."""
    import warnings

    import torch

    x, h, y, hn = names
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on RNNs with a given state
        torch.onnx.export(
            module,
            example,
            str(path),
            input_names=[x, h],
            output_names=[y, hn],
            opset_version=17,
            dynamo=False,
            dynamic_axes={
                x: {0: "b", 1: "t"},
                h: {state_batch: "b"},
                y: {0: "b", 1: "t"},
                hn: {state_batch: "b"},
            },
        )


# Series that statsmodels ships, trained with small budgets (a few seconds each): what a user's
# `rnn-serve train` produces, for the pipeline's tests and the API's.
TRAINED = {
    "macrodata": {"budget_s": 10.0},
    "sunspots": {"budget_s": 10.0, "season": 11},
}


TRAINED_LEVELS = (50, 80, 95)


def train_dataset(name: str, directory: Path, **overrides: object):  # type: ignore[no-untyped-def]
    import io

    from rnn_serve.model.series import datasets
    from rnn_serve.model.series.train import TrainRequest, train_series

    data = datasets.write(name, directory / f"{name}.csv")
    options = {**datasets.COLUMNS[name], **TRAINED[name], **overrides}
    request = TrainRequest(data, name, out=directory, levels=TRAINED_LEVELS, **options)
    return train_series(request, progress_stream=io.StringIO())


def co2_series(length: int, offset: int = 0) -> list[float]:
    return co2_values()[offset : offset + length].tolist()


def check_kserve_shape(body: dict) -> None:
    """The fields and types of KServe's ForecastResponse, ForecastOutput, TimeSeriesForecast."""
    assert {"id", "created_at", "status", "model", "outputs"} <= set(body)
    assert isinstance(body["created_at"], int) and body["status"] == "completed"
    for output in body["outputs"]:
        assert {"type", "id", "status", "content"} <= set(output)
        for forecast in output["content"]:
            assert {"type", "name", "mean_forecast", "frequency", "start_timestamp"} <= set(
                forecast
            )
            assert all(isinstance(v, float) for v in forecast["mean_forecast"])


# Faults in a copy of the shipped models, each returning what the refusal names.
def corrupt(model_dir: Path) -> str:
    (model_dir / "co2.onnx").write_bytes(b"not an onnx graph")
    return "co2.onnx"


def tamper(model_dir: Path) -> str:
    data = bytearray((model_dir / "co2.onnx").read_bytes())
    data[-1] ^= 1
    (model_dir / "co2.onnx").write_bytes(bytes(data))
    return "co2.onnx does not match its manifest"


def tamper_batched(model_dir: Path) -> str:
    (model_dir / "seed-demo.scan.onnx").write_bytes(b"\x00" * 10)
    return "seed-demo.scan.onnx does not match its manifest"


def remove(model_dir: Path) -> str:
    (model_dir / "co2.onnx").unlink()
    return "co2.onnx named by its manifest is missing"


def break_manifest(model_dir: Path) -> str:
    (model_dir / "seed-demo.json").write_text('{"name": "seed-demo"}')
    return "invalid manifest seed-demo.json"


def corrupt_bare(model_dir: Path) -> str:
    (model_dir / "bare.onnx").write_bytes(b"\x08\x01garbage")
    return "cannot load ONNX model bare.onnx"


MODEL_FAULTS = [corrupt, tamper, tamper_batched, remove, break_manifest, corrupt_bare]
