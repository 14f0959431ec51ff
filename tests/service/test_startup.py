"""Loading models: bring-your-own ONNX, faults that stop loading, providers, readiness (a real
process: tests/live/test_startup.py)."""

from __future__ import annotations

import gc
import shutil
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from starlette.testclient import WebSocketDenialResponse

import rnn_serve.service.app as app_module
from rnn_serve.model.network import RecurrentNet, RNNConfig
from rnn_serve.service.app import GC_THRESHOLDS
from rnn_serve.service.errors import ModelLoadError, ProviderUnavailable
from rnn_serve.service.runtime.loader import load_models
from rnn_serve.service.runtime.providers import providers_for
from tests.support.models import ARTIFACTS, MODEL_FAULTS, SEED_BATCH
from tests.support.servers import make_client

CPU = ["CPUExecutionProvider"]


class StatelessRNN(torch.nn.Module):
    """A graph with no initial_state input: it always starts from zeros."""

    def __init__(self) -> None:
        super().__init__()
        self.net = RecurrentNet(RNNConfig(features=2, hidden_size=4, output_size=2))

    def forward(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.net(inputs, torch.zeros(inputs.shape[0], 4))


def export_stateless(path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes about the fixed-size zeros
        torch.onnx.export(
            StatelessRNN(),
            (torch.zeros(2, 3, 2),),
            str(path),
            input_names=["inputs"],
            output_names=["outputs", "state"],
            dynamic_axes={
                "inputs": {0: "b", 1: "s"},
                "outputs": {0: "b", 1: "s"},
                "state": {0: "b"},
            },
            dynamo=False,
        )


def test_bare_onnx_is_served_with_shapes_from_the_graph(model_dir):
    shutil.copy(ARTIFACTS / "seed-demo.onnx", model_dir / "mine.onnx")
    export_stateless(model_dir / "stateless.onnx")
    with make_client(model_dir=model_dir) as client:
        mine = client.get("/v1/models/mine").json()
        assert (mine["features"], mine["hidden_size"], mine["source"]) == (3, 7, "bare onnx")
        assert mine["preprocessing"] is None and not mine["can_forecast"]
        response = client.post("/v1/models/mine/predict", json={"inputs": SEED_BATCH})
        assert np.shape(response.json()["outputs"]) == (6, 5, 7)
        # No model is left on the slow path: its batch graph is built at load.
        assert mine["batched_graph"]["built_at_load"] is True
        refused = client.post("/v1/models/mine/forecast", json={"series": [1.0], "horizon": 1})
        assert refused.status_code == 422

        stateless = client.get("/v1/models/stateless").json()
        assert not stateless["accepts_initial_state"]
        assert stateless["batched_graph"]["built_at_load"] is True  # from PyTorch's export
        inputs = [[[0.5, -0.5]] * 3]
        ok = client.post("/v1/models/stateless/predict", json={"inputs": inputs})
        assert np.shape(ok.json()["state"]) == (1, 4)
        with_state = {"inputs": inputs, "initial_state": [[0.0] * 4]}
        refused = client.post("/v1/models/stateless/predict", json=with_state)
        assert refused.status_code == 422
        assert refused.json()["error"].startswith("model 'stateless' takes no initial_state")


@pytest.mark.parametrize("fault", MODEL_FAULTS)
def test_faulty_model_files_stop_loading_with_the_file_named(model_dir, fault):
    expected = fault(model_dir)
    with pytest.raises(ModelLoadError, match=expected.replace(".", r"\.")):
        load_models(model_dir, CPU, threads=1)


def test_empty_model_dir_is_refused(tmp_path):
    with pytest.raises(ModelLoadError, match="no models found"):
        load_models(tmp_path, CPU, threads=1)


@pytest.mark.skipif(
    "CUDAExecutionProvider" in ort.get_available_providers(), reason="this onnxruntime has CUDA"
)
def test_cuda_without_onnxruntime_gpu_fails_clearly():
    with pytest.raises(ProviderUnavailable, match="install the 'gpu' extra"):
        providers_for("cuda")
    assert providers_for("auto") == CPU


def test_not_ready_until_every_model_is_loaded_and_warm(monkeypatch):
    """Polled while the models load (slowly, on purpose): 503 until the last one is loaded
    and has run its warm-up, 200 from then on; liveness answers throughout."""
    warm: list[str] = []
    real_loader = app_module.loader

    def slow_loader(settings):  # type: ignore[no-untyped-def]
        load = real_loader(settings)

        def slowly(on_disk):  # type: ignore[no-untyped-def]
            time.sleep(0.3)
            model = load(on_disk)  # loads, checks and runs the warm-up
            warm.append(model.name)
            return model

        return slowly

    monkeypatch.setattr(app_module, "loader", slow_loader)
    client = make_client()
    starting = threading.Thread(target=client.__enter__)
    starting.start()
    seen, streams = [], []
    deadline = time.monotonic() + 30
    while not seen or seen[-1][0] != 200:  # polled until the first 200
        assert time.monotonic() < deadline, seen[-5:]
        ready = client.get("/v2/health/ready")
        seen.append((ready.status_code, len(warm)))
        assert client.get("/v2/health/live").status_code == 200
        if ready.status_code == 503 and not warm:  # a stream asked for before any model
            stream = client.websocket_connect("/v1/models/seed-demo/sequences/s/stream")
            with pytest.raises(WebSocketDenialResponse) as refused, stream:
                pass
            streams.append(refused.value.status_code)
    starting.join()
    try:
        models = len(client.get("/v1/models").json()["models"])
        assert seen[0] == (503, 0)
        assert all(status == 503 for status, loaded in seen if loaded < models)
        assert [loaded for status, loaded in seen if status == 200] == [models]
        assert streams and set(streams) == {503}
    finally:
        client.__exit__(None, None, None)


def test_warm_up_runs_every_graph(monkeypatch):
    from rnn_serve.service.runtime.loader import load_models

    model = load_models(ARTIFACTS, CPU, threads=1)["co2"]
    used = []
    real = model.predictor.run_on
    monkeypatch.setattr(
        model.predictor,
        "run_on",
        lambda session, *args: used.append(session) or real(session, *args),
    )
    model.predictor.warm_up()  # whichever graph the measured crossover then prefers
    assert {id(s) for s in used} == {
        id(model.predictor.session),
        id(model.predictor.batched_session),
    }


def test_start_up_makes_young_collections_rare():
    gc.set_threshold(700, 10, 10)
    with make_client():
        assert gc.get_threshold() == GC_THRESHOLDS


def test_the_app_state_reads_alike_as_attributes_and_items():
    state = app_module.AppState()
    state.engine = "e"
    state["workers"] = "w"
    assert (state.engine, state["engine"], state.workers, state["workers"]) == ("e", "e", "w", "w")
    assert sorted(state) == ["engine", "workers"] and len(state) == 2
    del state.engine
    del state["workers"]
    assert getattr(state, "engine", None) is None and getattr(state, "workers", None) is None
    assert len(state) == 0
