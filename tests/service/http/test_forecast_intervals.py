"""/v1 forecasts with prediction intervals and quantiles, from the model's calibration."""

from __future__ import annotations

import json
import uuid

import numpy as np
import pytest

from rnn_serve.contract.manifest import Manifest
from rnn_serve.contract.preprocessing import SeriesTransform
from tests.support.models import ARTIFACTS, co2_series
from tests.support.servers import make_client

FORECAST = "/v1/models/co2/forecast"


def test_levels_give_bounds_around_the_forecast(client):
    manifest = Manifest.read(ARTIFACTS / "co2.json")
    transform = SeriesTransform(manifest.preprocessing)
    series = [co2_series(200), co2_series(150, offset=300)]
    body = client.post(FORECAST, json={"series": series, "horizon": 6, "levels": [80, 95]}).json()
    forecasts = np.array(body["forecasts"])
    assert set(body["intervals"]) == {"80", "95"}
    for level, bounds in body["intervals"].items():
        lower, upper = manifest.intervals.bounds(
            forecasts, int(level), transform.std, transform.log
        )
        np.testing.assert_allclose(bounds["lower"], lower, rtol=1e-12)
        np.testing.assert_allclose(bounds["upper"], upper, rtol=1e-12)
        assert np.all(lower < forecasts) and np.all(forecasts < upper)
    assert np.all(np.array(body["intervals"]["95"]["upper"]) >= body["intervals"]["80"]["upper"])
    flat = client.post(FORECAST, json={"series": series[0], "horizon": 6, "levels": [80]}).json()
    assert np.shape(flat["intervals"]["80"]["lower"]) == (6,)  # shaped like the request


def test_quantiles_are_interval_bounds_and_the_median_is_the_forecast(client):
    request = {"series": co2_series(200), "horizon": 4, "quantiles": [0.1, 0.5, 0.9]}
    body = client.post(FORECAST, json=request).json()
    with_levels = client.post(FORECAST, json={**request, "quantiles": None, "levels": [80]}).json()
    assert body["quantiles"]["0.5"] == body["forecasts"]
    assert body["quantiles"]["0.1"] == with_levels["intervals"]["80"]["lower"]
    assert body["quantiles"]["0.9"] == with_levels["intervals"]["80"]["upper"]


def test_what_the_calibration_cannot_answer_gets_a_422_naming_it(client, model_dir):
    series = co2_series(200)
    levels = client.post(FORECAST, json={"series": series, "horizon": 3, "levels": [70]})
    assert levels.status_code == 422
    assert "has intervals at levels [50, 80, 90, 95, 99], not [70]" in levels.json()["error"]
    quantile = client.post(FORECAST, json={"series": series, "horizon": 3, "quantiles": [0.2]})
    assert quantile.status_code == 422 and "quantile q asks for level" in quantile.json()["error"]
    far = client.post(FORECAST, json={"series": series, "horizon": 30, "levels": [80]})
    assert far.status_code == 422 and "calibrated up to horizon 26" in far.json()["error"]
    assert client.post(FORECAST, json={"series": series, "horizon": 30}).status_code == 200
    bad = client.post(FORECAST, json={"series": series, "horizon": 3, "levels": [100]})
    assert bad.status_code == 422 and bad.json()["details"][0]["loc"][:2] == ["levels", 0]
    manifest = json.loads((model_dir / "co2.json").read_text())
    del manifest["intervals"]
    (model_dir / "co2.json").write_text(json.dumps(manifest))
    with make_client(model_dir=model_dir) as uncalibrated:
        none = uncalibrated.post(FORECAST, json={"series": series, "horizon": 3, "levels": [80]})
        assert (
            none.status_code == 422 and "no calibrated prediction intervals" in none.json()["error"]
        )


def test_a_stored_sequence_forecasts_with_intervals(client):
    sequence, series = uuid.uuid4().hex, co2_series(220)
    first = {
        "series": series[:200],
        "horizon": 3,
        "levels": [90],
        "sequence": {"id": sequence, "start": True},
    }
    assert client.post(FORECAST, json=first).status_code == 200
    then = {
        "series": series[200:],
        "horizon": 3,
        "levels": [90],
        "sequence": {"id": sequence, "end": True},
    }
    streamed = client.post(FORECAST, json=then).json()
    whole = client.post(FORECAST, json={"series": series, "horizon": 3, "levels": [90]}).json()
    np.testing.assert_allclose(streamed["forecasts"], whole["forecasts"], atol=1e-4)
    np.testing.assert_allclose(
        streamed["intervals"]["90"]["upper"], whole["intervals"]["90"]["upper"], atol=1e-4
    )


def test_metadata_shows_the_calibration(client):
    intervals = client.get("/v1/models/co2").json()["intervals"]
    assert intervals["levels"] == [50, 80, 90, 95, 99] and intervals["horizon"] == 26
    assert set(intervals["coverage_on_test_period"]) == {"50", "80", "90", "95", "99"}


def test_nulls_between_observations_are_interpolated_and_reported(client):
    series = co2_series(200)
    gappy = list(series)
    gappy[150:153] = [None, None, None]
    gappy[180] = None
    answer = client.post(FORECAST, json={"series": [gappy, series], "horizon": 3})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["filled"] == [{"series": 0, "positions": [150, 151, 152, 180]}]
    filled = list(series)
    filled[150:153] = np.interp([150, 151, 152], [149, 153], [series[149], series[153]]).tolist()
    filled[180] = (series[179] + series[181]) / 2
    expected = client.post(FORECAST, json={"series": filled, "horizon": 3}).json()["forecasts"]
    np.testing.assert_allclose(body["forecasts"][0], expected, atol=1e-4)
    assert "filled" not in client.post(FORECAST, json={"series": series, "horizon": 3}).json()


def test_gaps_at_the_ends_are_refused_naming_the_series_and_positions(client):
    series = co2_series(200)
    ending = [*series[:-2], None, None]
    response = client.post(FORECAST, json={"series": [series, ending], "horizon": 3})
    assert response.status_code == 422
    assert "series[1] ends with missing values at positions 198..199" in response.json()["error"]
    starting = client.post(FORECAST, json={"series": [None, *series], "horizon": 3})
    assert "series starts with missing values at positions 0..0" in starting.json()["error"]


def test_ids_start_and_freq_name_the_series_and_date_the_steps(client):
    series = [co2_series(200), co2_series(150, offset=300)]
    request = {
        "series": series,
        "horizon": 2,
        "ids": ["mlo", "spo"],
        "start": ["2020-01-05", "2021-03-31T00:00:00Z"],
        "freq": "M",
    }
    body = client.post(FORECAST, json=request).json()
    assert body["ids"] == ["mlo", "spo"]
    # 200 months after 2020-01-05, then 201; 150 months after 2021-03-31, by the calendar
    assert body["timestamps"] == [
        ["2036-09-05T00:00:00", "2036-10-05T00:00:00"],
        ["2033-09-30T00:00:00+00:00", "2033-10-31T00:00:00+00:00"],
    ]
    one = client.post(
        FORECAST, json={"series": series[0], "horizon": 1, "start": "2020-01-05", "freq": "W"}
    ).json()
    assert one["timestamps"] == ["2023-11-05T00:00:00"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"ids": ["only-one"]}, "ids has 1 names for 2 series"),
        ({"start": "2020-01-01"}, "start and freq go together"),
        ({"start": ["2020-01-01"], "freq": "D"}, "start has 1 timestamps for 2 series"),
        ({"start": ["2020-01-01", "soon"], "freq": "D"}, "start 'soon' is not an ISO 8601 time"),
        ({"freq": "fortnight", "start": "2020-01-01"}, "freq"),
        (
            {"series": [co2_series(200), co2_series(20)], "ids": ["mlo", "short"]},
            "series[1] ('short') has 20 values",
        ),
    ],
)
def test_bad_ids_and_times_get_a_422_naming_them(client, change, message):
    request = {"series": [co2_series(200), co2_series(150, offset=300)], "horizon": 2} | change
    response = client.post(FORECAST, json=request)
    assert response.status_code == 422, response.text
    assert message in response.text
