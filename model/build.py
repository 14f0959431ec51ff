"""Rebuilds the shipped artifacts: ``python -m model.build`` (``make train``).

Writes model/artifacts/{seed-demo,co2}.{onnx,json} and docs/co2-forecast.png, and prints the
metric table that the README shows.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from contract.forecast import RunFn, forecast
from contract.manifest import Manifest, Preprocessing
from contract.names import INITIAL_STATE, INPUTS, OUTPUTS, STATE
from contract.preprocessing import SeriesTransform
from model.convert import Target, from_state_dict, save
from model.convert.write import write_manifest
from model.data import (
    SEASON,
    TEST_WEEKS,
    VALIDATION_WEEKS,
    fit_preprocessing,
    load_co2,
    training_sets,
)
from model.evaluate import (
    Forecaster,
    holt_winters,
    markdown_table,
    rolling_forecasts,
    score,
    seasonal_naive,
)
from model.intervals import calibrate, with_coverage
from model.network import RecurrentNet, RNNConfig
from model.plot import plot_forecasts
from model.train import TrainConfig, recurrent_norm, seed_everything, train

ARTIFACTS = Path("model/artifacts")
PLOT = Path("docs/co2-forecast.png")
COMMAND = "make train  # python -m model.build"
VERSION = "1"


def build_seed_demo(out: Path) -> Manifest:
    """The seed's own configuration: features 3, hidden 7, no projection, seeded weights."""
    seed_everything(seed=7, threads=1)
    net = RecurrentNet(RNNConfig(features=3, hidden_size=7))
    return _export(net, out, "seed-demo", training={"data": "none: seeded random weights"})


def build_co2(out: Path, config: TrainConfig) -> Manifest:
    split = load_co2()
    preprocessing = fit_preprocessing(split.fit_part)
    transform = SeriesTransform(preprocessing)
    fit, validation = training_sets(split, transform, config.steps)
    started = time.perf_counter()
    net, curve = train(config, fit, validation)
    window = config.steps + preprocessing.difference
    training = {
        "data": "statsmodels.datasets.co2, weekly, gaps interpolated in time",
        "split": {
            "observations": len(split.values),
            "fit": [0, split.validation_start],
            "validation": [split.validation_start, split.test_start],
            "test": [split.test_start, len(split.values)],
            "test_weeks": TEST_WEEKS,
            "validation_weeks": VALIDATION_WEEKS,
        },
        "config": asdict(config),
        "epochs_run": len(curve),
        "best_validation_mse": round(min(curve), 6),
        "recurrent_spectral_norm": round(recurrent_norm(net), 4),
    }
    # The time goes to the console, not the manifest, which `make train` rebuilds byte for byte.
    print(f"co2: {len(curve)} epochs in {time.perf_counter() - started:.1f} s")
    manifest = _export(net, out, "co2", training, window=window, preprocessing=preprocessing)
    forecasters: dict[str, Forecaster] = {
        "rnn": rnn_forecaster(onnx_run(out / manifest.onnx_file), transform, window),
        "seasonal_naive": seasonal_naive,
        "holt_winters": holt_winters(split.training_part),
    }
    predictions = rolling_forecasts(split, forecasters)
    metrics = score(split, predictions)
    plot_forecasts(split, predictions, PLOT)
    rnn = forecasters["rnn"]
    intervals = calibrate(split.values, rnn, split.validation_start, split.test_start)
    intervals = with_coverage(intervals, split.values, rnn, split.test_start)
    manifest = manifest.model_copy(
        update={"metrics": {"season": SEASON, **metrics}, "intervals": intervals}
    )
    write_manifest(out, manifest)
    return manifest


def onnx_run(path: Path) -> RunFn:
    """The exported graph as the forecaster calls it: (inputs, state or None for zeros)."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    state_size = session.get_inputs()[1].shape[1]

    def run(inputs: np.ndarray, state: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        if state is None:
            state = np.zeros((len(inputs), state_size), np.float32)
        outputs, final = session.run([OUTPUTS, STATE], {INPUTS: inputs, INITIAL_STATE: state})
        return outputs, final

    return run


def rnn_forecaster(run: RunFn, transform: SeriesTransform, window: int) -> Forecaster:
    def rnn(values: np.ndarray, at: np.ndarray, horizon: int) -> np.ndarray:
        windows = np.stack([values[o - window + 1 : o + 1] for o in at])
        return forecast(run, transform, window, windows, horizon)

    return rnn


def _export(
    net: RecurrentNet,
    out: Path,
    name: str,
    training: dict[str, object],
    window: int | None = None,
    preprocessing: Preprocessing | None = None,
) -> Manifest:
    """Through the same path as `rnn-serve convert` of a PyTorch state_dict."""
    target = Target(name, out, VERSION, window, preprocessing, COMMAND, training)
    return save(target, from_state_dict(net.state_dict()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ARTIFACTS)
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(TrainConfig.threads)
    build_seed_demo(args.out)
    manifest = build_co2(args.out, TrainConfig(epochs=args.epochs))
    print(markdown_table({k: v for k, v in manifest.metrics.items() if k != "season"}))


if __name__ == "__main__":
    main()
