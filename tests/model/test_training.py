"""Data preparation, deterministic training, and the metrics the shipped manifest claims."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from contract.manifest import Manifest
from contract.preprocessing import SeriesTransform
from model.build import rnn_forecaster
from model.data import (
    TEST_WEEKS,
    fit_preprocessing,
    load_co2,
    sliding_windows,
    training_sets,
)
from model.evaluate import rolling_forecasts, score, seasonal_naive
from model.train import TrainConfig, train
from service.runtime.predictor import Predictor
from tests.conftest import ARTIFACTS


@pytest.fixture(scope="module")
def split():
    return load_co2()


@pytest.fixture(scope="module")
def co2_manifest() -> Manifest:
    return Manifest.read(ARTIFACTS / "co2.json")


def test_series_is_complete_and_split_chronologically(split):
    assert not np.isnan(split.values).any()
    assert len(split.values) - split.test_start == TEST_WEEKS
    assert 0 < split.validation_start < split.test_start


def test_sliding_windows_follow_the_seed_layout():
    windows = sliding_windows(np.arange(1, 21), 5)
    assert windows.shape == (16, 5)
    np.testing.assert_array_equal(windows[1], [2, 3, 4, 5, 6])


def test_normalisation_uses_the_fitting_part_only(split, co2_manifest):
    assert co2_manifest.preprocessing == fit_preprocessing(split.fit_part)
    everything = fit_preprocessing(split.values)
    assert everything.mean != co2_manifest.preprocessing.mean


def test_validation_pairs_predict_validation_data(split, co2_manifest):
    transform = SeriesTransform(co2_manifest.preprocessing)
    (x_fit, y_fit), (x_val, y_val) = training_sets(split, transform, steps=10)
    encoded = transform.encode(split.training_part[np.newaxis])[0, :, 0]
    np.testing.assert_array_equal(y_fit[0, :, 0], encoded[1:11])
    np.testing.assert_array_equal(x_val[-1, 1:, 0], y_val[-1, :-1, 0])
    np.testing.assert_array_equal(y_val[-1, -1, 0], encoded[-1])
    assert len(x_fit) + len(x_val) <= len(encoded) - 10


@pytest.mark.parametrize(("cell", "layers"), [("rnn", 1), ("gru", 1), ("lstm", 2)])
def test_short_training_twice_gives_identical_weights(split, co2_manifest, cell, layers):
    transform = SeriesTransform(co2_manifest.preprocessing)
    fit, validation = training_sets(split, transform, steps=16)
    small_fit = tuple(part[:256] for part in fit)
    config = TrainConfig(hidden_size=8, steps=16, epochs=3, cell=cell, layers=layers)
    first, curve = train(config, small_fit, validation)
    second, _ = train(config, small_fit, validation)
    assert first.config.cell == cell and first.config.layers == layers
    assert min(curve) < curve[0] or len(curve) == 1  # it learns, or stops at its best
    for (name, a), b in zip(first.state_dict().items(), second.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_shipped_model_reproduces_its_manifest_metrics(split, co2_manifest):
    predictor = Predictor.load(ARTIFACTS / "co2.onnx", ["CPUExecutionProvider"])
    transform = SeriesTransform(co2_manifest.preprocessing)
    rnn = rnn_forecaster(predictor.run, transform, co2_manifest.window)
    measured = score(
        split, rolling_forecasts(split, {"rnn": rnn, "seasonal_naive": seasonal_naive})
    )
    for horizon in ("h1", "h12"):
        for method, numbers in measured[horizon].items():
            assert numbers["mase"] == pytest.approx(
                co2_manifest.metrics[horizon][method]["mase"], abs=1e-3
            )


@pytest.mark.parametrize("horizon", ["h1", "h12"])
@pytest.mark.parametrize("baseline", ["seasonal_naive", "holt_winters"])
def test_shipped_model_beats_the_baselines(co2_manifest, horizon, baseline):
    metrics = co2_manifest.metrics[horizon]
    assert metrics["rnn"]["mase"] < metrics[baseline]["mase"]
    assert metrics["rnn"]["mae"] < metrics[baseline]["mae"]


def test_co2_intervals_cover_the_test_period_as_the_manifest_says():
    """Recomputed from the shipped graph: the coverage the manifest stores, within 10 points
    of each nominal level."""
    from model.build import onnx_run
    from model.data import load_co2
    from model.intervals import with_coverage

    manifest = Manifest.read(ARTIFACTS / "co2.json")
    split = load_co2()
    transform = SeriesTransform(manifest.preprocessing)
    forecaster = rnn_forecaster(onnx_run(ARTIFACTS / "co2.onnx"), transform, manifest.window)
    measured = with_coverage(manifest.intervals, split.values, forecaster, split.test_start)
    assert measured.coverage == manifest.intervals.coverage
    for level, share in measured.coverage.items():
        assert abs(share - int(level) / 100) <= 0.10, (level, share)
