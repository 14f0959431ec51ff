"""Converted models, served through /v1 and /v2, answer as their own framework does (Keras on
the torch backend; PyTorch), from zeros and from a given state, on both graphs."""

from __future__ import annotations

import numpy as np
import pytest

from rnn_serve.cli import main as rnn_serve
from tests.model.convert.sources import (
    FEATURES,
    KERAS_CELLS,
    TORCH_CELLS,
    SourceModel,
    keras_source,
    torch_source,
)
from tests.support.servers import make_client

TOLERANCE = 1e-5
SHAPES = {"keras": KERAS_CELLS, "torch": TORCH_CELLS}
NAMES = [
    f"{framework}-{cell}-{depth}{'-head' if head else ''}"
    for framework, cells in SHAPES.items()
    for cell in cells
    for depth in (1, 2)
    for head in (False, True)
]


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> tuple[dict[str, SourceModel], object]:
    sources_dir = tmp_path_factory.mktemp("sources")
    models_dir = tmp_path_factory.mktemp("models")
    sources = {}
    for framework, cells in SHAPES.items():
        build = keras_source if framework == "keras" else torch_source
        for cell in cells:
            for depth in (1, 2):
                for head in (False, True):
                    source = build(sources_dir, cell, depth, head)
                    sources[source.name] = source
                    argv = ["convert", str(source.path), "--name", source.name]
                    assert rnn_serve([*argv, "--out", str(models_dir)]) == 0
    assert sorted(sources) == sorted(NAMES)
    with make_client(model_dir=models_dir) as client:
        yield sources, client


def v1(client, name: str, inputs: np.ndarray, state: np.ndarray | None):
    body = {"inputs": inputs.tolist()}
    if state is not None:
        body["initial_state"] = state.tolist()
    response = client.post(f"/v1/models/{name}/predict", json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    return np.array(answer["outputs"]), np.array(answer["state"])


def v2(client, name: str, inputs: np.ndarray, state: np.ndarray | None):
    tensors = [
        {
            "name": "inputs",
            "shape": list(inputs.shape),
            "datatype": "FP32",
            "data": inputs.ravel().tolist(),
        }
    ]
    if state is not None:
        tensors.append(
            {
                "name": "initial_state",
                "shape": list(state.shape),
                "datatype": "FP32",
                "data": state.ravel().tolist(),
            }
        )
    response = client.post(f"/v2/models/{name}/infer", json={"inputs": tensors})
    assert response.status_code == 200, response.text
    found = {o["name"]: np.reshape(o["data"], o["shape"]) for o in response.json()["outputs"]}
    return found["outputs"], found["state"]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("api", [v1, v2], ids=["v1", "v2"])
@pytest.mark.parametrize("with_state", [False, True], ids=["zeros", "given-state"])
@pytest.mark.parametrize("batch", [2, 6], ids=["operator-graph", "loop-graph"])
def test_served_answers_equal_the_framework(converted, name, api, with_state, batch):
    sources, client = converted
    source = sources[name]
    rng = np.random.default_rng(7)
    inputs = rng.normal(size=(batch, 9, FEATURES)).astype(np.float32)
    state = rng.uniform(-0.8, 0.8, size=(batch, source.state_size)).astype(np.float32)
    outputs, final = api(client, name, inputs, state if with_state else None)
    expected, expected_state = source.answer(inputs, state if with_state else np.zeros_like(state))
    if source.last_step_only:
        outputs = outputs[:, -1:]
    np.testing.assert_allclose(outputs, expected, atol=TOLERANCE)
    if expected_state is not None:
        np.testing.assert_allclose(final, expected_state, atol=TOLERANCE)


def test_metadata_reports_cells_layers_and_the_state_layout(converted):
    _, client = converted
    body = client.get("/v1/models/torch-lstm-2-head").json()
    assert (body["cells"], body["num_layers"], body["state_size"]) == (["lstm", "lstm"], 2, 20)
    assert [(p["layer"], p["part"], p["start"], p["stop"]) for p in body["state_layout"]] == [
        (0, "h", 0, 5),
        (0, "c", 5, 10),
        (1, "h", 10, 15),
        (1, "c", 15, 20),
    ]
    assert body["converted_from"]["framework"] == "pytorch"
    assert body["batched_graph"]["built_at_load"] is False
    keras_gru = client.get("/v1/models/keras-gru-reset-before-1").json()
    assert keras_gru["layers"] == [{"cell": "gru", "hidden_size": 5, "reset_after": False}]
    v2_meta = client.get("/v2/models/keras-lstm-2").json()
    assert v2_meta["inputs"][1] == {"name": "initial_state", "datatype": "FP32", "shape": [-1, 20]}
    parameters = v2_meta["parameters"]
    assert (parameters["cells"], parameters["num_layers"], parameters["state_size"]) == (
        ["lstm", "lstm"],
        2,
        20,
    )
    assert parameters["state_layout"][1] == {
        "layer": 0,
        "cell": "lstm",
        "part": "c",
        "start": 5,
        "stop": 10,
    }
