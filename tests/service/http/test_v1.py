"""/v1 through the ASGI app: metadata, predictions, forecasts."""

from __future__ import annotations

import re

import numpy as np
import pytest

from rnn_serve.contract.forecast import forecast
from rnn_serve.contract.manifest import Manifest
from rnn_serve.contract.preprocessing import SeriesTransform
from tests.support.models import ARTIFACTS, SEED_BATCH, co2_series, direct_run, provider_in_use


def test_lists_models_with_limits(client):
    body = client.get("/v1/models").json()
    assert {m["name"] for m in body["models"]} == {"co2", "seed-demo"}
    assert body["limits"]["max_horizon"] > 0


def test_model_metadata_comes_from_manifest_and_graph(client):
    body = client.get("/v1/models/co2").json()
    manifest = Manifest.read(ARTIFACTS / "co2.json")
    assert body["sha256"] == manifest.sha256
    assert (body["features"], body["hidden_size"], body["output_size"]) == (1, 32, 1)
    assert body["window"] == manifest.window
    assert body["preprocessing"] == manifest.preprocessing.model_dump()
    assert body["provider"] == provider_in_use()
    assert body["devices"][0]["provider"] == provider_in_use()
    assert body["metrics"]["h12"]["rnn"] == manifest.metrics["h12"]["rnn"]
    assert body["inputs"][0] == {"name": "inputs", "datatype": "FP32", "shape": [-1, -1, 1]}
    assert [o["name"] for o in body["outputs"]] == ["outputs", "state"]


def test_seed_example_gives_the_seed_shapes(client):
    response = client.post("/v1/models/seed-demo/predict", json={"inputs": SEED_BATCH})
    assert response.status_code == 200
    body = response.json()
    assert (body["model"], body["version"]) == ("seed-demo", "1")
    assert np.shape(body["outputs"]) == (6, 5, 7)
    assert np.shape(body["state"]) == (6, 7)


@pytest.mark.parametrize("with_state", [False, True])
@pytest.mark.parametrize("batch", [1, 64])  # numbers checked by Python, and by NumPy
def test_predict_equals_a_direct_onnx_runtime_call(client, rng, with_state, batch):
    inputs = rng.normal(size=(batch, 9, 3)).astype(np.float32)
    state = rng.uniform(-1, 1, size=(batch, 7)).astype(np.float32) if with_state else None
    payload = {"inputs": inputs.tolist()}
    if with_state:
        payload["initial_state"] = state.tolist()
    body = client.post("/v1/models/seed-demo/predict", json=payload).json()
    # the graph this server measured to be faster for the batch size
    min_batch = client.get("/v1/models/seed-demo").json()["batched_graph"]["min_batch"]
    outputs, final = direct_run("seed-demo", min_batch)(inputs, state)
    np.testing.assert_array_equal(np.float32(body["outputs"]), outputs)
    np.testing.assert_array_equal(np.float32(body["state"]), final)


def test_state_carries_across_requests(client, rng):
    inputs = rng.normal(size=(2, 10, 3)).round(3).tolist()
    whole = client.post("/v1/models/seed-demo/predict", json={"inputs": inputs}).json()
    head = client.post("/v1/models/seed-demo/predict", json={"inputs": [s[:4] for s in inputs]})
    tail = client.post(
        "/v1/models/seed-demo/predict",
        json={"inputs": [s[4:] for s in inputs], "initial_state": head.json()["state"]},
    ).json()
    np.testing.assert_allclose(tail["state"], whole["state"], atol=1e-6)


def test_forecast_matches_the_inference_core(client):
    manifest = Manifest.read(ARTIFACTS / "co2.json")
    series = co2_series(manifest.window + 20)
    body = client.post("/v1/models/co2/forecast", json={"series": series, "horizon": 12}).json()
    expected = forecast(
        direct_run("co2"),
        SeriesTransform(manifest.preprocessing),
        manifest.window,
        np.array([series]),
        12,
    )[0]
    assert len(body["forecasts"]) == 12
    np.testing.assert_allclose(body["forecasts"], expected, rtol=1e-9)
    # In the series' own units: near the last observation, not near zero.
    assert abs(body["forecasts"][0] - series[-1]) < 3


def test_forecast_several_series_of_different_lengths(client):
    window = client.get("/v1/models/co2").json()["window"]
    series = [co2_series(window), co2_series(window + 50, offset=100)]
    body = client.post("/v1/models/co2/forecast", json={"series": series, "horizon": 3}).json()
    assert np.shape(body["forecasts"]) == (2, 3)
    alone = client.post("/v1/models/co2/forecast", json={"series": series[1], "horizon": 3})
    np.testing.assert_allclose(body["forecasts"][1], alone.json()["forecasts"])


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_pages_load_nothing_from_elsewhere(client, page):
    html = client.get(page).text
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets and all(asset.startswith("/docs-assets/") for asset in assets), assets
    assert all(client.get(asset).status_code == 200 for asset in assets)


def test_openapi_document(client):
    schema = client.get("/openapi.json").json()
    body = schema["paths"]["/v1/models/{name}/predict"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"]["$ref"].endswith("/PredictRequest")
    assert "PredictRequest" in schema["components"]["schemas"]
