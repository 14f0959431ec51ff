"""KServe's time-series protocol (kserve python/kserve/kserve/protocol/rest/timeseries): a
request as a KServe client sends it, and an answer with the fields its ForecastResponse has."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest

from rnn_serve.service.http.calendar import advance
from tests.support.models import check_kserve_shape, co2_series

FORECAST = "/v1/timeseries/forecast"


def kserve_request(**options) -> dict:
    return {
        "model": "co2",
        "inputs": [
            {
                "type": "univariate_time_series",
                "name": "mauna-loa",
                "series": co2_series(200),
                "frequency": "W",
                "start_timestamp": "2020-01-05T00:00:00",
            },
            {
                "type": "univariate_time_series",
                "name": "other",
                "series": co2_series(150, 300),
                "frequency": "week",
            },
        ],
        "options": {"horizon": 4, "quantiles": [0.1, 0.5, 0.9], **options},
        "metadata": {"client": "kserve"},  # extra fields are accepted, as KServe accepts them
    }


def test_a_kserve_request_gets_forecasts_quantiles_and_timestamps(client):
    body = client.post(FORECAST, json=kserve_request()).json()
    check_kserve_shape(body)
    first, second = body["outputs"][0]["content"]
    same = client.post(
        "/v1/models/co2/forecast",
        json={"series": co2_series(200), "horizon": 4, "quantiles": [0.1, 0.9]},
    ).json()
    # one series alone or two together: the same numbers to float32 rounding
    np.testing.assert_allclose(first["mean_forecast"], same["forecasts"], atol=1e-4)
    assert first["quantiles"]["0.5"] == first["mean_forecast"]
    np.testing.assert_allclose(first["quantiles"]["0.1"], same["quantiles"]["0.1"], atol=1e-4)
    # 200 weekly observations from 2020-01-05: the first forecast is 200 weeks later
    assert first["start_timestamp"] == "2023-11-05T00:00:00"
    assert (second["name"], second["start_timestamp"], second["frequency"]) == (
        "other",
        None,
        "week",
    )


@pytest.mark.parametrize(
    ("frequency", "start", "steps", "expected"),
    [
        ("M", "2024-01-31T00:00:00", 1, "2024-02-29T00:00:00"),
        ("Q", "2023-11-15", 2, "2024-05-15T00:00:00"),
        ("Y", "2020-02-29", 1, "2021-02-28T00:00:00"),
        ("H", "2024-01-01T23:00:00+00:00", 2, "2024-01-02T01:00:00+00:00"),
    ],
)
def test_forecast_timestamps_follow_the_calendar(client, frequency, start, steps, expected):
    series = co2_series(105 + steps)
    request = {
        "model": "co2",
        "options": {"horizon": 1},
        "inputs": [
            {
                "type": "univariate_time_series",
                "name": "s",
                "series": series[: 105 + steps],
                "frequency": frequency,
                "start_timestamp": start,
            }
        ],
    }
    body = client.post(FORECAST, json=request).json()
    # the start plus one step per observation: 105 + steps steps

    assert (
        body["outputs"][0]["content"][0]["start_timestamp"]
        == advance(datetime.fromisoformat(start), frequency, 105 + steps).isoformat()
    )
    assert advance(datetime.fromisoformat(start), frequency, steps).isoformat() == expected


def test_models_lists_the_forecasters(client):
    assert client.get("/v1/timeseries/models").json() == ["co2"]


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        ({"model": "nope"}, 404, "unknown model 'nope'"),
        (
            {
                "inputs": [
                    {
                        "type": "multivariate_time_series",
                        "name": "m",
                        "series": [[1.0, 2.0]] * 110,
                        "frequency": "D",
                    }
                ]
            },
            422,
            "inputs[0] ('m') is multivariate_time_series",
        ),
        (
            {
                "inputs": [
                    {
                        "type": "univariate_time_series",
                        "name": "s",
                        "series": [1.0] * 110,
                        "frequency": "D",
                        "start_timestamp": "yesterday",
                    }
                ]
            },
            422,
            "start_timestamp 'yesterday' is not ISO 8601",
        ),
        (
            {
                "inputs": [
                    {
                        "type": "univariate_time_series",
                        "name": "s",
                        "series": [1.0] * 110,
                        "frequency": "fortnight",
                    }
                ]
            },
            422,
            "frequency",
        ),
        ({"options": {"horizon": 3, "quantiles": [0.3]}}, 422, "quantile q asks for level"),
        ({"options": {"horizon": 0}}, 422, "horizon"),
        (
            {
                "inputs": [
                    {
                        "type": "univariate_time_series",
                        "name": "short",
                        "series": [1.0] * 10,
                        "frequency": "D",
                    }
                ]
            },
            422,
            "series[0] ('short') has 10 values",
        ),
    ],
    ids=[
        "unknown-model",
        "multivariate",
        "bad-timestamp",
        "bad-frequency",
        "uncalibrated-quantile",
        "horizon-0",
        "too-short",
    ],
)
def test_bad_requests_get_a_4xx_naming_what_is_wrong(client, change, status, message):
    response = client.post(FORECAST, json=kserve_request() | change)
    assert response.status_code == status, response.text
    assert message in response.text
