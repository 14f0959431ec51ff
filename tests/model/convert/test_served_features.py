"""Every feature of the service works for converted models: stateful sequences (memory and
Redis, across replicas), dynamic batching, binary /v2, forecasts, and ONNX files whose tensor
names are mapped."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import numpy as np
import pytest
import torch

from rnn_serve.cli import main as rnn_serve
from rnn_serve.contract.forecast import forecast, observe_and_forecast
from rnn_serve.contract.manifest import Manifest, Preprocessing
from rnn_serve.contract.preprocessing import SeriesTransform
from tests.model.convert.sources import FEATURES, HIDDEN, TorchForecaster, keras_answer
from tests.support.models import export_with_torch
from tests.support.servers import make_client

WINDOW, MEAN, STD, SEASON = 24, 0.5, 2.0, 12
RNN_SERVE = str(Path(sys.executable).with_name("rnn-serve"))


class FlatStateGRU(torch.nn.Module):
    """A GRU exported to ONNX with a 2-D state and names of its own."""

    def __init__(self) -> None:
        super().__init__()
        self.gru = torch.nn.GRU(FEATURES, HIDDEN, batch_first=True)
        self.dense = torch.nn.Linear(HIDDEN, 2)

    def forward(self, x, h):
        y, last = self.gru(x, h.unsqueeze(0))
        return self.dense(y), last.squeeze(0)


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, object]:
    """Source files and the modules that answer for them."""
    import keras

    directory = tmp_path_factory.mktemp("sources")
    torch.manual_seed(3)
    lstm = TorchForecaster("lstm", 2, head=False).eval()
    torch.save(lstm.state_dict(), directory / "lstm.pt")
    forecaster = torch.nn.ModuleDict(
        {"lstm": torch.nn.LSTM(1, 8, batch_first=True), "head": torch.nn.Linear(8, 1)}
    ).eval()
    torch.save(forecaster.state_dict(), directory / "forecaster.pt")
    keras.utils.set_random_seed(3)
    mixed = keras.Sequential(
        [
            keras.Input((None, FEATURES)),
            keras.layers.GRU(6, return_sequences=True),
            keras.layers.LSTM(4, return_sequences=True),
            keras.layers.Dense(2, activation="tanh"),
        ]
    )
    mixed.save(directory / "mixed.keras")
    mixed.save(directory / "mixed.h5")  # Keras' legacy format converts too
    gru = FlatStateGRU().eval()
    example = (torch.zeros(2, 4, FEATURES), torch.zeros(2, HIDDEN))
    names = ("input_1", "h0", "dense", "hn")
    export_with_torch(gru, example, directory / "g.onnx", names, state_batch=0)
    return {"dir": directory, "lstm": lstm, "forecaster": forecaster, "mixed": mixed, "gru": gru}


@pytest.fixture(scope="module")
def models(sources, tmp_path_factory) -> Path:
    out, source = tmp_path_factory.mktemp("models"), sources["dir"]
    commands = [
        [str(source / "lstm.pt"), "--name", "lstm"],
        [str(source / "mixed.keras"), "--name", "mixed"],
        [str(source / "mixed.h5"), "--name", "mixed-h5"],
        [
            str(source / "g.onnx"),
            "--name",
            "onnx-gru",
            "--io",
            "inputs=input_1,initial_state=h0,outputs=dense,state=hn",
        ],
        [
            str(source / "forecaster.pt"),
            "--name",
            "forecaster",
            "--window",
            str(WINDOW),
            "--mean",
            str(MEAN),
            "--std",
            str(STD),
        ],
        [
            *(str(source / "forecaster.pt"), "--name", "seasonal", "--window", str(WINDOW)),
            *("--seasonal", str(SEASON), "--log", "--mean", "0.01", "--std", "0.05"),
        ],
    ]
    for command in commands:
        assert rnn_serve(["convert", *command, "--out", str(out)]) == 0
    return out


def torch_answer(module, inputs, state):
    with torch.no_grad():
        outputs, last = module(torch.from_numpy(inputs), torch.from_numpy(state))
    return outputs.numpy(), last.numpy()


@pytest.fixture(params=["memory", "redis"])
def store(request) -> dict[str, str]:
    return {"state_url": request.getfixturevalue("redis_url")} if request.param == "redis" else {}


def test_chunked_sequences_equal_one_call_and_the_state_keeps_its_layout(models, store, rng):
    """A 2-layer LSTM's state (h0, c0, h1, c1) goes through the store between chunks, and with
    Redis from one replica to another."""
    with (
        make_client(model_dir=models, **store) as one,
        make_client(model_dir=models, **store) as two,
    ):
        path = "/v1/models/lstm/predict"
        inputs = rng.normal(size=(2, 12, FEATURES)).astype(np.float32)
        whole = one.post(path, json={"inputs": inputs.tolist()}).json()
        replicas = [one, two] if store else [one, one]
        sequence_answers = stream_across(replicas, path, inputs, cut=5)
        outputs = np.concatenate([np.array(a["outputs"]) for a in sequence_answers], axis=1)
        np.testing.assert_allclose(outputs, whole["outputs"], atol=1e-5)
        np.testing.assert_allclose(sequence_answers[-1]["state"], whole["state"], atol=1e-5)
        layout = {
            (p["layer"], p["part"]): p for p in one.get("/v1/models/lstm").json()["state_layout"]
        }
        last_h = layout[(1, "h")]
        state = np.array(whole["state"])
        # Without a head the outputs are the last layer's h: found where the layout says.
        np.testing.assert_allclose(
            state[:, last_h["start"] : last_h["stop"]], np.array(whole["outputs"])[:, -1], atol=1e-6
        )


def stream_across(replicas, path: str, inputs: np.ndarray, cut: int) -> list[dict]:
    sequence = uuid.uuid4().hex
    first = replicas[0].post(
        path, json={"inputs": inputs[:, :cut].tolist(), "sequence": {"id": sequence, "start": True}}
    )
    second = replicas[1].post(
        path, json={"inputs": inputs[:, cut:].tolist(), "sequence": {"id": sequence, "end": True}}
    )
    assert first.status_code == second.status_code == 200, (first.text, second.text)
    return [first.json(), second.json()]


def test_a_mixed_keras_stack_and_a_mapped_onnx_file_are_served(models, sources, rng):
    with make_client(model_dir=models) as client:
        inputs = rng.normal(size=(3, 7, FEATURES)).astype(np.float32)
        mixed = client.get("/v1/models/mixed").json()
        assert mixed["cells"] == ["gru", "lstm"] and mixed["state_size"] == 6 + 8
        state = rng.uniform(-0.5, 0.5, size=(3, 14)).astype(np.float32)
        body = {"inputs": inputs.tolist(), "initial_state": state.tolist()}
        expected, _ = keras_answer(sources["mixed"])(inputs, state)
        for name in ("mixed", "mixed-h5"):
            served = client.post(f"/v1/models/{name}/predict", json=body).json()
            np.testing.assert_allclose(served["outputs"], expected, atol=1e-5)

        gru = client.get("/v1/models/onnx-gru").json()
        assert gru["cells"] == ["gru"] and gru["converted_from"]["framework"] == "onnx (pytorch)"
        assert [t["name"] for t in gru["inputs"]] == ["inputs", "initial_state"]
        state = rng.uniform(-0.5, 0.5, size=(3, HIDDEN)).astype(np.float32)
        body = {"inputs": inputs.tolist(), "initial_state": state.tolist()}
        served = client.post("/v1/models/onnx-gru/predict", json=body).json()
        for got, want in zip(
            (served["outputs"], served["state"]),
            torch_answer(sources["gru"], inputs, state),
            strict=True,
        ):
            np.testing.assert_allclose(got, want, atol=1e-5)
    manifest = Manifest.read(models / "onnx-gru.json")
    assert (manifest.io.inputs, manifest.io.state) == ("input_1", "hn")
    assert manifest.batched is not None  # its GRU operator became a loop


def lstm_rollout(module):
    """The forecaster's PyTorch modules as contract.forecast calls a model: (inputs, state or
    None) -> (outputs, state), the state its h then c."""

    def run(inputs, state):
        if state is None:
            state = np.zeros((len(inputs), 16), np.float32)
        h, c = torch.from_numpy(state[:, :8])[None], torch.from_numpy(state[:, 8:])[None]
        with torch.no_grad():
            y, (h, c) = module["lstm"](torch.from_numpy(inputs), (h, c))
            return module["head"](y).numpy(), torch.cat([h[0], c[0]], 1).numpy()

    return run


def test_forecasts_of_a_converted_model_follow_its_preprocessing(models, sources, rng):
    run = lstm_rollout(sources["forecaster"])
    series = np.cumsum(rng.normal(size=(2, 40)), axis=1)
    transform = SeriesTransform(Preprocessing(difference=0, mean=MEAN, std=STD))
    expected = forecast(run, transform, WINDOW, series, 6)
    with make_client(model_dir=models) as client:
        response = client.post(
            "/v1/models/forecaster/forecast", json={"series": series.tolist(), "horizon": 6}
        )
        assert response.status_code == 200, response.text
        np.testing.assert_allclose(response.json()["forecasts"], expected, atol=1e-4)
        refused = client.post("/v1/models/lstm/forecast", json={"series": [1.0] * 30, "horizon": 2})
        assert refused.status_code == 422


def test_seasonal_log_forecasts_and_their_stored_sequences(models, sources):
    """Logs, then differences at the season's lag: a forecast reads the last 24 values (12
    model inputs), and a stored sequence keeps the last 12 raw values between requests."""
    run = lstm_rollout(sources["forecaster"])
    t = np.arange(60)
    series = (100 + t + 10 * np.sin(2 * np.pi * t / SEASON))[np.newaxis]
    spec = Preprocessing(difference=0, seasonal=SEASON, log=True, mean=0.01, std=0.05)
    expected = forecast(run, SeriesTransform(spec), WINDOW, series, 14)
    path = "/v1/models/seasonal/forecast"
    with make_client(model_dir=models) as client:
        assert client.get("/v1/models/seasonal").json()["window"] == WINDOW
        whole = client.post(path, json={"series": series[0].tolist(), "horizon": 14}).json()
        np.testing.assert_allclose(whole["forecasts"], expected[0], rtol=1e-5)
        sequence = uuid.uuid4().hex
        first = {
            "series": series[0, :50].tolist(),
            "horizon": 3,
            "sequence": {"id": sequence, "start": True},
        }
        assert client.post(path, json=first).status_code == 200
        then = {"series": series[0, 50:].tolist(), "horizon": 14, "sequence": {"id": sequence}}
        streamed = client.post(path, json=then).json()
        stateful = observe_and_forecast(
            run, SeriesTransform(spec), series[:, 50 - WINDOW :], None, 14
        )[0]
        np.testing.assert_allclose(streamed["forecasts"], stateful[0], rtol=1e-5)
        negative = client.post(
            path, json={"series": [*series[0, :-1].tolist(), -1.0], "horizon": 1}
        )
        assert negative.status_code == 422
        assert "series[0] has -1 at position 59; model 'seasonal' takes logs" in negative.text
