"""`rnn-serve train` end to end on series that statsmodels ships: one weekly series (the
shipped co2 model), one yearly, and a file of three quarterly series. Each is scored on a test
period it never saw, against seasonal naive and Holt-Winters, recomputed here from the files."""

from __future__ import annotations

import io
import shutil

import numpy as np
import pytest

from rnn_serve.cli import main
from rnn_serve.contract.manifest import Manifest
from rnn_serve.model.series import evaluate, intervals, search
from rnn_serve.model.series.datasets import write
from rnn_serve.model.series.load import load_series
from rnn_serve.model.series.search import BACKTEST_FOLDS, least_fit
from rnn_serve.model.series.split import Periods, split
from rnn_serve.model.series.train import TrainRequest, train_series
from tests.support.models import ARTIFACTS, TRAINED


def recomputed(manifest: Manifest, data_path, directory):
    """The test-period table and interval coverage, from the written graph and manifest."""
    data = manifest.training["data"]
    dataset = load_series(
        data_path, data["value_column"], data["time_column"], data["id_column"], data["freq"]
    )
    season, horizon = manifest.training["season"], manifest.training["horizon"]
    splits = split(dataset, Periods(**manifest.training["periods"]), least_fit(season))
    graph = evaluate.onnx_run(directory / manifest.onnx_file)
    rnn = evaluate.network(graph, manifest.preprocessing, manifest.window, manifest.blend)
    forecasters = {"rnn": rnn, "seasonal_naive": evaluate.seasonal_naive(season)}
    predictions = evaluate.predict(splits, forecasters, horizon)
    coverage = intervals.with_coverage(
        manifest.intervals, splits, manifest.preprocessing, predictions["rnn"]
    ).coverage
    return evaluate.score(splits, predictions, season), coverage


@pytest.fixture(scope="module")
def co2_csv(tmp_path_factory):
    return write("co2", tmp_path_factory.mktemp("co2") / "co2.csv")


def test_training_twice_writes_identical_files(tmp_path, capsys):
    data = write("macrodata", tmp_path / "macro.csv")
    out, first = tmp_path / "out", tmp_path / "first"
    command = [
        "train", str(data), "--name", "macro", "--value-column", "value",
        "--time-column", "date", "--id-column", "id", "--budget-s", "1", "--out", str(out),
    ]  # fmt: skip
    assert main(command) == 0
    shutil.copytree(out, first)
    assert main(command) == 0  # the same command (the manifest records it) writes again
    printed = capsys.readouterr()
    assert "| h | rnn MAE | rnn MASE | seasonal_naive MAE" in printed.out
    assert "interval coverage on the test period: 50%:" in printed.out
    assert "1/" in printed.err  # the progress bar
    names = sorted(path.name for path in first.iterdir())
    assert names == ["macro.json", "macro.onnx", "macro.png", "macro.scan.onnx"]
    for name in names:
        assert (first / name).read_bytes() == (out / name).read_bytes(), name


@pytest.mark.parametrize("name", list(TRAINED))
def test_the_chosen_model_beats_seasonal_naive_on_every_test_period(trained, trained_dir, name):
    manifest = trained[name].manifest
    table, coverage = recomputed(manifest, trained_dir / f"{name}.csv", trained_dir)
    for key, row in table.items():  # what the manifest says is what the files do
        for method, numbers in row.items():
            assert numbers == pytest.approx(manifest.metrics[key][method], abs=1e-3)
    assert coverage == manifest.intervals.coverage
    rnn = np.mean([row["rnn"]["mase"] for row in table.values()])
    naive = np.mean([row["seasonal_naive"]["mase"] for row in table.values()])
    assert rnn < naive


COVERAGE_TOLERANCE = 0.10  # the issue's: within 10 points of nominal


@pytest.mark.parametrize("name", list(TRAINED))
def test_interval_coverage_on_the_test_period_is_near_nominal(trained, name):
    found = trained[name].manifest.intervals
    assert found.calibration["backtest_folds"] == BACKTEST_FOLDS  # the series are long enough
    assert found.calibration["unseen_origins"] > 0  # the stretches after the folds count too
    assert set(found.coverage) == {"50", "80", "95"}
    assert found.coverage["50"] < found.coverage["80"] < found.coverage["95"]
    for level, share in found.coverage.items():
        assert abs(share - int(level) / 100) <= COVERAGE_TOLERANCE, (name, level, share)


def test_many_series_share_one_network_each_scaled_by_its_own_statistics(trained):
    manifest = trained["macrodata"].manifest
    scales = manifest.preprocessing.series
    assert set(scales) == {"realgdp", "realcons", "realinv"}
    assert manifest.intervals.scaled
    series = manifest.training["data"]["series"]
    assert [s["id"] for s in series] == ["realcons", "realgdp", "realinv"]
    assert manifest.training["data"]["freq"].startswith("QS")
    assert manifest.training["season"] == 4  # from the inferred quarterly frequency


def test_the_search_is_recorded_and_the_choice_is_its_best(trained):
    training = trained["sunspots"].manifest.training
    best = min(training["search"], key=lambda t: t["validation_mase"])
    chosen = training["chosen"]
    assert best["candidate"].startswith(chosen["preprocessing"])
    assert (
        f"window {chosen['window']}, {chosen['cell']} {chosen['hidden_size']}" in best["candidate"]
    )
    assert training["plan"]["budget_s"] == TRAINED["sunspots"]["budget_s"]
    assert training["served"]["trained_on"] == "fitting"  # the folds' networks are trained so


def test_series_too_short_for_folds_serve_a_network_trained_through_validation(
    tmp_path, monkeypatch
):
    refits, real = [], search.refit

    def refit(*args, **kwargs):
        refits.append(real(*args, **kwargs))
        return refits[-1]

    monkeypatch.setattr(search, "refit", refit)
    header, *rows = write("sunspots", tmp_path / "all.csv").read_text().splitlines(keepends=True)
    data = tmp_path / "short.csv"  # 60 years: 28 to fit, 16 to validate, 16 to test
    data.write_text("".join([header, *rows[-60:]]))
    request = TrainRequest(
        data, "short", "activity", tmp_path, time_column="year", levels=(80,), budget_s=1.0
    )
    manifest = train_series(request, progress_stream=io.StringIO()).manifest
    assert manifest.intervals.calibration["backtest_folds"] == 0  # none fits
    assert manifest.intervals.calibration["unseen_origins"] == 0
    training = manifest.training
    best = min(training["search"], key=lambda t: t["validation_mase"])
    assert training["served"]["trained_on"] == "fitting and validation"
    assert 1 <= training["served"]["epochs"] <= best["epochs"]
    inputs = np.linspace(-1, 1, 3 * manifest.window, dtype=np.float32).reshape(3, -1, 1)
    served = evaluate.onnx_run(tmp_path / manifest.onnx_file)(inputs, None)[0]
    (refitted,) = refits
    np.testing.assert_allclose(served, search.torch_run(refitted)(inputs, None)[0], atol=1e-5)
    table, coverage = recomputed(manifest, data, tmp_path)
    assert coverage == manifest.intervals.coverage  # the written graph is the one scored
    for key, row in table.items():
        assert row["rnn"]["mase"] == pytest.approx(manifest.metrics[key]["rnn"]["mase"], abs=1e-3)


def test_the_shipped_co2_model_reproduces_its_metrics_and_beats_holt_winters(co2_csv):
    manifest = Manifest.read(ARTIFACTS / "co2.json")
    table, coverage = recomputed(manifest, co2_csv, ARTIFACTS)
    for key in ("h1", "h12", f"h{manifest.training['horizon']}"):
        for method in ("rnn", "seasonal_naive"):
            assert table[key][method]["mase"] == pytest.approx(
                manifest.metrics[key][method]["mase"], abs=1e-3
            )
    assert coverage == manifest.intervals.coverage
    for level, share in coverage.items():
        assert abs(share - int(level) / 100) <= COVERAGE_TOLERANCE, (level, share)
    for key in ("h1", "h12"):
        for baseline in ("seasonal_naive", "holt_winters"):
            assert manifest.metrics[key]["rnn"]["mae"] < manifest.metrics[key][baseline]["mae"]
    assert manifest.training["data"]["sha256"] == _sha256(co2_csv)  # trained on this file


def _sha256(path):
    from rnn_serve.contract.manifest import sha256_of

    return sha256_of(path)
