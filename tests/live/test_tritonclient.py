"""/v2 through the official Triton client, the one people use, against a real server: health
and metadata, inference in JSON and binary tensors, compression, sequences and errors as it
expects them."""

from __future__ import annotations

import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from tests.support.models import SEED_BATCH, direct_run


@pytest.fixture(scope="module")
def triton_client(shared_server):
    return triton.InferenceServerClient(shared_server.url.removeprefix("http://"))


def tensor(name, array, binary, datatype="FP32"):
    infer_input = triton.InferInput(name, list(array.shape), datatype)
    infer_input.set_data_from_numpy(array, binary_data=binary)
    return infer_input


def test_health_and_metadata_through_the_triton_client(triton_client):
    assert triton_client.is_server_live() and triton_client.is_server_ready()
    assert triton_client.is_model_ready("co2") and triton_client.is_model_ready("seed-demo", "1")
    assert not triton_client.is_model_ready("nope")
    assert "binary_tensor_data" in triton_client.get_server_metadata()["extensions"]
    metadata = triton_client.get_model_metadata("seed-demo")
    assert metadata["versions"] == ["1"]
    assert metadata["inputs"] == [
        {"name": "inputs", "datatype": "FP32", "shape": [-1, -1, 3]},
        {"name": "initial_state", "datatype": "FP32", "shape": [-1, 7]},
    ]
    assert [o["shape"] for o in metadata["outputs"]] == [[-1, -1, 7], [-1, 7]]


@pytest.mark.parametrize("binary_in", [False, True])
@pytest.mark.parametrize("binary_out", [False, True])
def test_infer_matches_v1_and_onnx_runtime(triton_client, client, rng, binary_in, binary_out):
    inputs = rng.normal(size=(4, 6, 3)).astype(np.float32)
    state = rng.uniform(-1, 1, size=(4, 7)).astype(np.float32)
    result = triton_client.infer(
        "seed-demo",
        [tensor("inputs", inputs, binary_in), tensor("initial_state", state, binary_in)],
        outputs=[
            triton.InferRequestedOutput("outputs", binary_data=binary_out),
            triton.InferRequestedOutput("state", binary_data=binary_out),
        ],
        request_id="req-42",
    )
    assert result.get_response()["id"] == "req-42"
    # Which of the model's two graphs runs a batch is measured at each server's start-up;
    # they agree to float32 rounding.
    expected_outputs, expected_state = direct_run("seed-demo")(inputs, state)
    np.testing.assert_allclose(result.as_numpy("outputs"), expected_outputs, atol=1e-6)
    np.testing.assert_allclose(result.as_numpy("state"), expected_state, atol=1e-6)
    v1 = client.post(
        "/v1/models/seed-demo/predict",
        json={"inputs": inputs.tolist(), "initial_state": state.tolist()},
    ).json()
    np.testing.assert_allclose(np.float32(v1["outputs"]), result.as_numpy("outputs"), atol=1e-6)


def test_default_outputs_are_binary_and_requested_outputs_are_honoured(triton_client):
    inputs = np.array(SEED_BATCH, dtype=np.float32)
    everything = triton_client.infer("seed-demo", [tensor("inputs", inputs, True)])
    assert everything.as_numpy("outputs").shape == (6, 5, 7)
    only_state = triton_client.infer(
        "seed-demo",
        [tensor("inputs", inputs, False)],
        outputs=[triton.InferRequestedOutput("state", binary_data=False)],
    )
    assert [o["name"] for o in only_state.get_response()["outputs"]] == ["state"]
    np.testing.assert_array_equal(only_state.as_numpy("state"), everything.as_numpy("state"))


@pytest.mark.parametrize("datatype", ["FP64", "FP16"])
def test_fp64_and_fp16_inputs_are_converted(triton_client, datatype):
    inputs = np.array(SEED_BATCH, dtype=np.float32) / 10
    as_sent = inputs.astype(datatype.replace("FP", "float"))
    result = triton_client.infer("seed-demo", [tensor("inputs", as_sent, True, datatype)])
    expected, _ = direct_run("seed-demo")(as_sent.astype(np.float32))
    np.testing.assert_allclose(result.as_numpy("outputs"), expected, atol=1e-6)


def test_errors_reach_the_triton_client_with_their_message(triton_client):
    bad = tensor("inputs", np.zeros((1, 5, 2), np.float32), True)
    with pytest.raises(
        InferenceServerException,
        match=r"inputs has 2 features per step, model 'seed-demo' expects 3",
    ) as raised:
        triton_client.infer("seed-demo", [bad])
    assert raised.value.status() == "400"
    with pytest.raises(InferenceServerException, match="unknown model 'nope'"):
        triton_client.get_model_metadata("nope")


@pytest.mark.parametrize("algorithm", ["gzip", "deflate"])
def test_the_triton_client_compresses_binary_tensors(shared_server, algorithm):
    client = triton.InferenceServerClient(shared_server.url.removeprefix("http://"))
    inputs = np.asarray(SEED_BATCH, np.float32)
    tensor = triton.InferInput("inputs", list(inputs.shape), "FP32")
    tensor.set_data_from_numpy(inputs, binary_data=True)
    plain = client.infer("seed-demo", [tensor]).as_numpy("outputs")
    compressed = client.infer("seed-demo", [tensor], request_compression_algorithm=algorithm)
    np.testing.assert_array_equal(compressed.as_numpy("outputs"), plain)


def test_triton_client_sequence_parameters(shared_server, rng):
    client = triton.InferenceServerClient(shared_server.url.removeprefix("http://"))
    inputs = rng.normal(size=(1, 6, 3)).astype(np.float32)
    states = []
    for index, (a, b) in enumerate([(0, 2), (2, 3), (3, 6)]):
        chunk = triton.InferInput("inputs", [1, b - a, 3], "FP32")
        chunk.set_data_from_numpy(np.ascontiguousarray(inputs[:, a:b]))
        result = client.infer(
            "seed-demo", [chunk], sequence_id=42, sequence_start=index == 0, sequence_end=b == 6
        )
        states.append(result.as_numpy("state"))
    np.testing.assert_allclose(states[-1], direct_run("seed-demo")(inputs)[1], atol=1e-5)
    assert "sequence" in client.get_server_metadata()["extensions"]
