"""Bad input gets a 4xx whose message names what is wrong, never a 500."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rnn_serve.service.http.body import contains
from tests.support.models import SEED_BATCH
from tests.support.servers import make_client

PREDICT = "/v1/models/seed-demo/predict"
FORECAST = "/v1/models/co2/forecast"
OK_STEP = [1.0, 2.0, 3.0]

BAD_PREDICTIONS = [
    (
        {"inputs": [[OK_STEP, OK_STEP], [OK_STEP, [1.0, 2.0]]]},
        "inputs[1][1] has 2 features, expected 3",
    ),
    ({"inputs": [[OK_STEP, OK_STEP], [OK_STEP]]}, "inputs[1] has 1 steps, expected 2"),
    ({"inputs": [[[1.0, 2.0]]]}, "inputs has 2 features per step, model 'seed-demo' expects 3"),
    ({"inputs": []}, "inputs is empty: expected at least one of sequences"),
    ({"inputs": [[]]}, "inputs[0] is empty: expected at least one of steps"),
    ({"inputs": [[[]]]}, "inputs[0][0] is empty: expected at least one of features"),
    ({"inputs": [[[1.0, "2", 3.0]]]}, "inputs[0][0][1] must be a number, got a string"),
    ({"inputs": [[[1.0, None, 3.0]]]}, "inputs[0][0][1] must be a number, got null"),
    ({"inputs": [[[1.0, True, 3.0]]]}, "inputs[0][0][1] must be a number, got true"),
    ({"inputs": [[[1.0, {}, 3.0]]]}, "inputs[0][0][1] must be a number, got an object"),
    ({"inputs": [[[1.0, [2.0], 3.0]]]}, "inputs[0][0][1] must be a number, got a list"),
    ({"inputs": [[1.0, 2.0, 3.0]]}, "inputs[0][0] must be a list of features, got a number"),
    ({"inputs": "abc"}, "inputs must be a list of sequences, got a string"),
    ({"inputs": [[[1e39, 2.0, 3.0]]]}, "inputs[0][0][0] is 1e+39, beyond the float32 range"),
    (
        {"inputs": [[OK_STEP]], "initial_state": [[0.0] * 6]},
        "initial_state has shape [1, 6], expected [1, 7]: one row of 7 per input sequence",
    ),
    (
        {"inputs": [[OK_STEP] * 2] * 2, "initial_state": [[0.0] * 7, [0.0]]},
        "initial_state[1] has 1",
    ),
    (
        {"inputs": [[OK_STEP]], "initial_state": [[0.0] * 7, [0.0] * 7]},
        "initial_state has shape [2, 7], expected [1, 7]",
    ),
    ({"inputs": [[OK_STEP]], "initial_state": [0.0] * 7}, "initial_state[0] must be a list"),
    ({"inputs": [[OK_STEP]], "extra": 1}, "unknown field 'extra'"),
    ({"input": [[OK_STEP]]}, "missing field 'inputs'"),
]


@pytest.mark.parametrize(("payload", "message"), BAD_PREDICTIONS)
def test_bad_predict_payloads_get_422_naming_the_problem(client, payload, message):
    response = client.post(PREDICT, json=payload)
    assert response.status_code == 422, response.text
    body = response.json()
    assert set(body) == {"error", "details"}
    assert body["error"].startswith(message)
    assert body["details"] and "Traceback" not in response.text


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"inputs": [[[1.0, NaN, 3.0]]]}', "inputs[0][0][1] must be a finite number, got nan"),
        (b'{"inputs": [[[Infinity, 2, 3]]]}', "inputs[0][0][0] must be a finite number, got inf"),
        (b'{"inputs": [[[-Infinity, 2, 3]]]}', "inputs[0][0][0] must be a finite number, got -inf"),
        (b'{"inputs": [[[1e400, 2, 3]]]}', "inputs[0][0][0] must be a finite number, got inf"),
        (  # read as a Python integer, which a float cannot hold
            b'{"inputs": [[[1' + b"0" * 400 + b", 2, 3]]]}",
            "inputs[0][0][0] is an integer of 1329 bits, beyond the float32 range (±3.403e+38)",
        ),
        (b'{"inputs": [[[1' + b"0" * 40 + b", 2, 3]]]}", "inputs[0][0][0] is 1e+40, beyond"),
        (b"[1, 2]", "request body must be a JSON object"),
    ],
)
def test_non_finite_tokens_get_422_naming_the_element(client, raw, message):
    response = client.post(PREDICT, content=raw)
    assert response.status_code == 422
    assert response.json()["error"].startswith(message)


@pytest.mark.parametrize("raw", [b"", b"{", b'{"inputs": [[[1, 2, 3]]}', b"\xff\xfe"])
def test_malformed_json_gets_400(client, raw):
    response = client.post(PREDICT, content=raw)
    assert response.status_code == 400
    assert response.json()["error"].startswith("request body")


BAD_FORECASTS = [
    ({"series": [300.0] * 10, "horizon": 3}, "series[0] has 10 values; model 'co2' reads the last"),
    ({"series": [[300.0] * 200, [300.0] * 5], "horizon": 3}, "series[1] has 5 values"),
    (
        {"series": [300.0] * 200, "horizon": 0},
        "horizon: Input should be greater than or equal to 1",
    ),
    ({"series": [300.0] * 200, "horizon": "3"}, "horizon: Input should be a valid integer"),
    ({"series": [300.0] * 200, "horizon": 10**6}, "horizon 1000000 exceeds the limit of 1000"),
    ({"series": [300.0, "x"], "horizon": 1}, "series[1] must be a number, got a string"),
    ({"series": [[300.0], [1.0, None]], "horizon": 1}, "series[1] ends with missing values at"),
    ({"series": [], "horizon": 1}, "series is empty"),
    ({"series": [300.0] * 200}, "missing field 'horizon'"),
]


@pytest.mark.parametrize(("payload", "message"), BAD_FORECASTS)
def test_bad_forecast_payloads_get_422_naming_the_problem(client, payload, message):
    response = client.post(FORECAST, json=payload)
    assert response.status_code == 422, response.text
    assert response.json()["error"].startswith(message)


def test_forecast_on_a_model_that_cannot_forecast_is_refused(client):
    response = client.post("/v1/models/seed-demo/forecast", json={"series": [1.0], "horizon": 1})
    assert response.status_code == 422
    assert response.json()["error"].startswith("model 'seed-demo' cannot forecast")


def test_unknown_model_gets_404_listing_the_loaded_ones(client):
    response = client.post("/v1/models/nope/predict", json={"inputs": SEED_BATCH})
    assert response.status_code == 404
    assert response.json()["error"] == "unknown model 'nope'; loaded models: co2, seed-demo"
    assert client.get("/v1/models/nope").status_code == 404


def test_unknown_route_and_method_use_the_error_shape(client):
    assert client.get("/v1/nothing").json() == {"error": "Not Found", "details": []}
    assert client.get(PREDICT).status_code == 405


@pytest.mark.parametrize(
    ("limits", "payload", "message"),
    [
        ({"max_body_bytes": 100}, {"inputs": SEED_BATCH}, "request body of"),
        ({"max_elements": 10}, {"inputs": SEED_BATCH}, "request has 90 numbers, the limit is 10"),
        ({"max_batch": 2}, {"inputs": SEED_BATCH}, "request has 6 sequences, the limit is 2"),
        ({"max_steps": 4}, {"inputs": SEED_BATCH}, "request has 5 steps, the limit is 4"),
    ],
)
def test_limits_give_413(limits, payload, message):
    with make_client(**limits) as limited:
        response = limited.post(PREDICT, json=payload)
        assert response.status_code == 413
        assert response.json()["error"].startswith(message)
        assert (
            limited.get("/v1/models").json()["limits"] | limits
            == limited.get("/v1/models").json()["limits"]
        )


def test_chunked_body_over_the_limit_gets_413():
    with make_client(max_body_bytes=1000) as limited:
        chunks = (b'{"inputs": [' + b"[[1,2,3]]," * 200 + b"[[1,2,3]]]}" for _ in range(1))
        response = limited.post(PREDICT, content=chunks)
        assert response.status_code == 413


def test_a_body_with_json_booleans_elsewhere_still_validates(client):
    """`true` anywhere makes the validators check every element; a valid body still passes."""
    payload = {"inputs": SEED_BATCH, "sequence": {"id": "b", "start": True, "end": True}}
    response = client.post(PREDICT, json=payload)
    assert response.status_code == 200, response.text
    plain = client.post(PREDICT, json={"inputs": SEED_BATCH}).json()
    assert response.json()["outputs"] == plain["outputs"]


@given(st.binary(max_size=64), st.sampled_from([b"true", b"false"]))
def test_the_boolean_search_agrees_with_in(raw, word):
    assert contains(raw, word) == (word in raw)
    assert contains(raw + word, word) and contains(word + raw, word)
