"""Whatever a client sends to /v2 (JSON or binary tensors) or as a forecast's start and
frequency, the answer is a 4xx naming what is wrong, never a 5xx (property-based, on a real
server: headers reach it byte for byte, as no in-process client sends them)."""

from __future__ import annotations

import json

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnn_serve.service.http.calendar import Frequency
from tests.support.models import co2_series

INFER = "/v2/models/seed-demo/infer"
PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))

sizes = st.integers(-2, 4) | st.sampled_from([0, 2**31, 2**62, 2**63, 2**100])
shapes = st.lists(sizes, max_size=4) | st.lists(st.just(1), min_size=60, max_size=70)
numbers = (
    st.floats(allow_nan=True, allow_infinity=True)
    | st.integers(-(2**70), 2**70)
    | st.sampled_from([10**400, -(10**400)])  # past float64: read as Python integers
)
data = st.none() | st.lists(numbers | st.text(max_size=2) | st.booleans(), max_size=8)
parameters = st.fixed_dictionaries(
    {}, optional={"binary_data_size": st.integers(-4, 64) | st.sampled_from([2**62, "4"])}
)
tensors = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["inputs", "initial_state", "other"]),
        "shape": shapes,
        "datatype": st.sampled_from(["FP32", "FP64", "FP16", "INT8", ""]),
    },
    optional={"data": data, "parameters": parameters},
)
requests = st.fixed_dictionaries(
    {"inputs": st.lists(tensors, max_size=3)},
    optional={
        "id": st.text(max_size=3) | st.integers(),
        "model_name": st.sampled_from(["seed-demo", "other"]),
        "parameters": st.dictionaries(st.sampled_from(["sequence_id", "sequence_start"]), numbers),
        "outputs": st.lists(st.fixed_dictionaries({"name": st.text(max_size=6)}), max_size=2),
    },
)
header_lengths = st.none() | st.sampled_from(["²", "-1", "1e3", "0x10", "٣", "99999999999"])


@pytest.fixture(scope="module")
def http(shared_server):
    with httpx.Client(base_url=shared_server.url, timeout=30) as client:
        yield client


def assert_client_error(response) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code < 500, (response.status_code, response.text)
    assert response.json()["error"]


@PROPERTY
@given(request=requests)
def test_any_json_inference_request_gets_an_answer_or_a_4xx(http, request):
    assert_client_error(http.post(INFER, content=json.dumps(request).encode()))


@PROPERTY
@given(request=requests, blob=st.binary(max_size=64), header=header_lengths, exact=st.booleans())
def test_any_binary_inference_request_gets_an_answer_or_a_4xx(http, request, blob, header, exact):
    head = json.dumps(request).encode()
    length = str(len(head)) if exact or header is None else header
    raw = length.encode("latin-1" if length.isascii() or length == "²" else "utf-8")
    response = http.post(
        INFER, content=head + blob, headers={"Inference-Header-Content-Length": raw}
    )
    assert_client_error(response)


starts = st.datetimes().map(lambda moment: moment.isoformat()) | st.text(max_size=12)
frequencies = st.sampled_from([member.value for member in Frequency])


@PROPERTY
@given(start=starts, freq=frequencies, horizon=st.integers(1, 60))
def test_any_forecast_start_and_frequency_gets_an_answer_or_a_4xx(http, start, freq, horizon):
    series = co2_series(60)
    response = http.post(
        "/v1/models/co2/forecast",
        json={"series": series, "horizon": horizon, "start": start, "freq": freq},
    )
    assert_client_error(response)
    timeseries = http.post(
        "/v1/timeseries/forecast",
        json={
            "model": "co2",
            "inputs": [
                {
                    "name": "s",
                    "series": series,
                    "frequency": freq,
                    "start_timestamp": start,
                    "type": "univariate_time_series",
                }
            ],
            "options": {"horizon": horizon},
        },
    )
    assert_client_error(timeseries)


@pytest.mark.parametrize(
    ("start", "freq"), [("9999-06-01T00:00:00", "W"), ("9999-06-01T00:00:00", "Y")]
)
def test_a_forecast_past_the_year_9999_names_its_start(client, start, freq):
    body = {"series": co2_series(60), "horizon": 60, "start": start, "freq": freq}
    refused = client.post("/v1/models/co2/forecast", json=body)
    assert refused.status_code == 422
    assert refused.json()["details"][0]["loc"] == ["start"]
    assert "run past the year 9999" in refused.json()["error"]


@pytest.mark.parametrize(
    ("shape", "size", "message"),
    [
        ([2**62, 2**62, 0], 0, "sizes must be >= 1"),
        ([2**31, 2**31, 0], 0, "sizes must be >= 1"),
        ([1, 0, 3], 0, "sizes must be >= 1"),
        ([1] * 65, 4, "has 65 dimensions; at most 8"),
    ],
)
@pytest.mark.parametrize("binary", [True, False])
def test_shapes_no_array_can_take_get_400(http, shape, size, message, binary):
    tensor = {"name": "inputs", "shape": shape, "datatype": "FP32"}
    if binary:
        tensor["parameters"] = {"binary_data_size": size}
        head = json.dumps({"inputs": [tensor]}).encode()
        blob = b"\0" * size
        headers = {"Inference-Header-Content-Length": str(len(head))}
    else:
        tensor["data"] = [0.0] * (size // 4)
        head, blob, headers = json.dumps({"inputs": [tensor]}).encode(), b"", {}
    refused = http.post(INFER, content=head + blob, headers=headers)
    assert refused.status_code == 400
    assert message in refused.json()["error"]
