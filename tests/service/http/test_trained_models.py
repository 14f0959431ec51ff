"""Models that `rnn-serve train` wrote, served: several series with ids (each scaled by its own
statistics), gaps, timestamps, levels; KServe's format; stateful forecasts with intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rnn_serve.contract.forecast import blended, forecast, observe_and_forecast
from rnn_serve.contract.gaps import fill_gaps
from rnn_serve.contract.preprocessing import SeriesTransform
from tests.support.models import check_kserve_shape, direct_run
from tests.support.servers import make_client

MACRO = "/v1/models/macrodata/forecast"


@pytest.fixture(scope="module")
def trained_client(trained_dir):
    with make_client(model_dir=trained_dir) as client:
        yield client


@pytest.fixture(scope="module")
def macro(trained, trained_dir):
    """The model's manifest, and the last values of each series, by id."""
    manifest = trained["macrodata"].manifest
    frame = pd.read_csv(trained_dir / "macrodata.csv")
    values = {name: group["value"].to_numpy() for name, group in frame.groupby("id")}
    return manifest, values


def expected(trained_dir, manifest, ids, windows, horizon):
    transform = SeriesTransform(manifest.preprocessing, ids)
    run = direct_run("macrodata", model_dir=trained_dir)
    found = forecast(run, transform, manifest.window, np.array(windows), horizon)
    return blended(found, np.array(windows), manifest.blend, ids), transform


def test_series_with_ids_gaps_timestamps_and_levels(trained_client, trained_dir, macro):
    manifest, values = macro
    ids = ["realinv", "realgdp"]
    length = manifest.window + 3
    windows = [values[name][-length:] for name in ids]
    sent = [list(map(float, w)) for w in windows]
    sent[1][5] = None  # a gap inside the second series
    request = {
        "series": sent,
        "ids": ids,
        "horizon": 4,
        "levels": [80, 95],
        "start": ["2008-01-01", "2008-04-01"],
        "freq": "Q",
    }
    body = trained_client.post(MACRO, json=request).json()
    filled = [windows[0], fill_gaps(windows[1].astype(float), np.arange(length) == 5)]
    forecasts, transform = expected(trained_dir, manifest, ids, filled, 4)
    np.testing.assert_allclose(body["forecasts"], forecasts, rtol=1e-4)
    assert body["ids"] == ids and body["filled"] == [{"series": 1, "positions": [5]}]
    first_step = pd.Timestamp("2008-01-01") + pd.DateOffset(months=3 * length)
    assert body["timestamps"][0][0].startswith(first_step.strftime("%Y-%m-%d"))
    lower, upper = manifest.intervals.bounds(
        np.array(body["forecasts"]), 95, transform.std, transform.log
    )
    np.testing.assert_allclose(body["intervals"]["95"]["lower"], lower, rtol=1e-9)
    np.testing.assert_allclose(body["intervals"]["95"]["upper"], upper, rtol=1e-9)
    width = np.subtract(body["intervals"]["80"]["upper"], body["intervals"]["80"]["lower"])
    relative = width / np.array(body["forecasts"])
    assert np.all(relative[0] > relative[1])  # investment is far more volatile than GDP
    unnamed = trained_client.post(MACRO, json={**request, "ids": None}).json()
    assert not np.allclose(unnamed["forecasts"][0], body["forecasts"][0])  # ids pick the scale


def test_metadata_says_what_was_chosen_and_which_ids_it_knows(trained_client, macro):
    manifest, _ = macro
    training = trained_client.get("/v1/models/macrodata").json()["training"]
    assert training["series_ids"] == ["realcons", "realgdp", "realinv"]
    assert training["chosen"] == manifest.training["chosen"]
    assert len(training["search"]) == len(manifest.training["search"])
    assert training["blend"] == manifest.training["blend"]  # the weights, where naive won
    assert set(training["blend"]["validation_mase"]) == {"network", "seasonal_naive", "served"}
    assert trained_client.get("/v1/models/sunspots").json()["training"]["series_ids"] is None


def test_errors_name_the_series_by_its_id(trained_client, macro):
    _, values = macro
    short = {"series": [[1.0, 2.0]], "ids": ["realcons"], "horizon": 2}
    answer = trained_client.post(MACRO, json=short)
    assert answer.status_code == 422
    assert "'realcons'" in answer.json()["error"]
    far = {"series": values["realgdp"][-50:].tolist(), "horizon": 40, "levels": [80]}
    answer = trained_client.post(MACRO, json=far)
    assert answer.status_code == 422 and "calibrated up to horizon 4" in answer.json()["error"]


def test_a_kserve_request_for_named_series(trained_client, macro):
    _, values = macro
    inputs = [
        {
            "type": "univariate_time_series",
            "name": name,
            "series": values[name][-30:].tolist(),
            "frequency": "quarter",
            "start_timestamp": "2002-01-01T00:00:00",
        }
        for name in ("realcons", "realinv")
    ]
    request = {
        "model": "macrodata",
        "inputs": inputs,
        "options": {"horizon": 3, "quantiles": [0.1, 0.9]},
    }
    body = trained_client.post("/v1/timeseries/forecast", json=request).json()
    check_kserve_shape(body)
    v1 = trained_client.post(
        MACRO,
        json={
            "series": [i["series"] for i in inputs],
            "ids": ["realcons", "realinv"],
            "horizon": 3,
            "quantiles": [0.1, 0.9],
        },
    ).json()
    for index, answer in enumerate(body["outputs"][0]["content"]):
        assert answer["mean_forecast"] == pytest.approx(v1["forecasts"][index])
        assert answer["quantiles"]["0.9"] == pytest.approx(v1["quantiles"]["0.9"][index])
        assert answer["start_timestamp"].startswith("2009-07-01")  # 30 quarters on


def test_stateful_forecasts_after_each_observation_with_intervals(
    trained_client, trained, trained_dir
):
    manifest = trained["sunspots"].manifest
    values = pd.read_csv(trained_dir / "sunspots.csv")["activity"].to_numpy()[
        -manifest.window - 5 :
    ]
    path, sequence = "/v1/models/sunspots/forecast", "sun"
    answer = trained_client.post(
        path,
        json={
            "series": values[: manifest.window].tolist(),
            "horizon": 3,
            "levels": [80],
            "sequence": {"id": sequence, "start": True},
        },
    ).json()
    for value in values[manifest.window :]:
        answer = trained_client.post(
            path,
            json={
                "series": [float(value)],
                "horizon": 3,
                "levels": [80],
                "sequence": {"id": sequence},
            },
        ).json()
        assert set(answer["intervals"]) == {"80"}
    transform = SeriesTransform(manifest.preprocessing)
    run = direct_run("sunspots", model_dir=trained_dir)
    network, _ = observe_and_forecast(run, transform, values[np.newaxis], None, 3)
    # sunspots' network does not beat seasonal naive at every step: the tail kept a season
    assert manifest.blend is not None and min(manifest.blend.weights) < 1
    expected_forecasts = blended(network, values[np.newaxis], manifest.blend)
    np.testing.assert_allclose(answer["forecasts"], expected_forecasts[0], rtol=1e-4)
    lower, _ = manifest.intervals.bounds(expected_forecasts, 80, transform.std, transform.log)
    np.testing.assert_allclose(answer["intervals"]["80"]["lower"], lower[0], rtol=1e-4)
