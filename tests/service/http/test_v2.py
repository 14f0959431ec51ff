"""/v2, the Open Inference Protocol: the official Triton client, and errors as it expects."""

from __future__ import annotations

import httpx
import numpy as np
import orjson
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from rnn_serve.service.http.oip import HEADER_LENGTH
from tests.support.models import SEED_BATCH, direct_run

INFER = "/v2/models/seed-demo/infer"


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


def json_input(name="inputs", shape=(1, 1, 3), data=(1.0, 2.0, 3.0), datatype="FP32", **extra):
    return {"name": name, "shape": list(shape), "datatype": datatype, "data": list(data), **extra}


def binary_request(arrays, sizes=None, json_extra=None):
    """A body in the binary extension's framing; ``sizes`` can lie about byte counts."""
    arrays = {name: array.astype("<f4") for name, array in arrays.items()}
    inputs = []
    for index, (name, array) in enumerate(arrays.items()):
        size = sizes[index] if sizes else array.nbytes
        inputs.append(
            {
                "name": name,
                "shape": list(array.shape),
                "datatype": "FP32",
                "parameters": {"binary_data_size": size},
            }
        )
    header = orjson.dumps({"inputs": inputs, **(json_extra or {})})
    body = header + b"".join(a.tobytes() for a in arrays.values())
    return body, {HEADER_LENGTH: str(len(header))}


BAD_JSON_REQUESTS = [
    (
        {"inputs": [json_input(shape=(1, 1, 2), data=(1, 2))]},
        "inputs has 2 features per step, model 'seed-demo' expects 3",
    ),
    (
        {"inputs": [json_input(shape=(3,), data=(1, 2, 3))]},
        "inputs has shape [3], expected [sequences, steps, 3]",
    ),
    (
        {"inputs": [json_input(datatype="INT32")]},
        "input 'inputs' has datatype INT32, expected FP32",
    ),
    ({"inputs": [json_input(datatype="BYTES")]}, "input 'inputs' has datatype BYTES"),
    (
        {"inputs": [json_input(name="initial_state", shape=(1, 7), data=[0] * 7)]},
        "missing input 'inputs'",
    ),
    (
        {"inputs": [json_input(), json_input(name="extra")]},
        "unknown input 'extra'; model 'seed-demo' takes 'inputs', 'initial_state'",
    ),
    ({"inputs": [json_input(), json_input()]}, "input 'inputs' appears twice"),
    (
        {"inputs": [json_input(data=(1, 2))]},
        "input 'inputs' has 2 values in data, but shape [1, 1, 3] holds 3",
    ),
    (
        {"inputs": [json_input(data=(1, "x", 3))]},
        "input 'inputs' data[1] must be a number, got a string",
    ),
    (
        {"inputs": [json_input(shape=(1, -1, 3))]},
        "input 'inputs' has shape [1, -1, 3]: sizes must be >= 1",
    ),
    (
        {"inputs": [{"name": "inputs", "shape": [1, 1, 3], "datatype": "FP32"}]},
        "input 'inputs' has neither data nor binary_data_size",
    ),
    ({"inputs": []}, "invalid inference request: inputs:"),
    (
        {"inputs": [json_input()], "outputs": [{"name": "hidden"}]},
        "unknown output 'hidden'; the model has 'outputs', 'state'",
    ),
    (
        {"inputs": [json_input(), json_input(name="initial_state", shape=(2, 7), data=[0] * 14)]},
        "initial_state has shape [2, 7], expected [1, 7]",
    ),
]


@pytest.mark.parametrize(("payload", "message"), BAD_JSON_REQUESTS)
def test_bad_json_requests_get_400_naming_the_tensor(client, payload, message):
    response = client.post(INFER, json=payload)
    assert response.status_code == 400, response.text
    assert response.json()["error"].startswith(message)


def test_binary_size_that_disagrees_with_the_shape_gets_400(client):
    body, headers = binary_request({"inputs": np.zeros((1, 2, 3))}, sizes=[20])
    response = client.post(INFER, content=body, headers=headers)
    assert response.status_code == 400
    assert response.json()["error"] == (
        "input 'inputs' has binary_data_size 20, but shape [1, 2, 3] of FP32 takes 24 bytes"
    )


def test_binary_body_shorter_or_longer_than_declared_gets_400(client):
    body, headers = binary_request({"inputs": np.zeros((1, 2, 3))})
    short = client.post(INFER, content=body[:-4], headers=headers)
    assert short.status_code == 400 and "binary data" in short.json()["error"]
    long = client.post(INFER, content=body + b"\0\0\0\0", headers=headers)
    assert long.json()["error"] == (
        "binary data is 28 bytes, but the inputs' binary_data_size add up to 24"
    )


@pytest.mark.parametrize("header", ["abc", "-1", "99999"])
def test_bad_header_length_gets_400(client, header):
    body, _ = binary_request({"inputs": np.zeros((1, 2, 3))})
    response = client.post(INFER, content=body, headers={HEADER_LENGTH: header})
    assert response.status_code == 400
    assert HEADER_LENGTH in response.json()["error"]


def test_nan_in_binary_data_gets_400(client):
    body, headers = binary_request({"inputs": np.array([[[1.0, np.nan, 3.0]]])})
    response = client.post(INFER, content=body, headers=headers)
    assert response.json()["error"] == "input 'inputs' holds NaN or infinite values (as float32)"


def test_binary_response_framing(client):
    body, headers = binary_request(
        {"inputs": np.array(SEED_BATCH, np.float32)},
        json_extra={"id": "7", "parameters": {"binary_data_output": True}},
    )
    response = client.post(INFER, content=body, headers=headers)
    json_length = int(response.headers[HEADER_LENGTH])
    header = orjson.loads(response.content[:json_length])
    assert header["id"] == "7" and header["model_version"] == "1"
    sizes = [o["parameters"]["binary_data_size"] for o in header["outputs"]]
    assert sizes == [6 * 5 * 7 * 4, 6 * 7 * 4]
    assert len(response.content) == json_length + sum(sizes)


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/v2/models/nope", 404),
        ("/v2/models/seed-demo/versions/2", 404),
        ("/v2/models/seed-demo/versions/2/ready", 404),
        ("/v2/models/seed-demo/versions/1/ready", 200),
    ],
)
def test_unknown_models_and_versions_get_404(client, path, status):
    assert client.get(path).status_code == status


def test_same_limits_as_v1():
    from tests.support.servers import make_client

    with make_client(max_batch=2) as limited:
        payload = {"inputs": [json_input(shape=(3, 1, 3), data=[1.0] * 9)]}
        response = limited.post(INFER, json=payload)
        assert response.status_code == 413
        assert response.json()["error"] == "request has 3 sequences, the limit is 2"


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        (
            {"sequence_id": "x" * 300, "sequence_start": True},
            "sequence_id: String should have at most 256 characters",
        ),
        ({"sequence_id": 1.5}, "sequence_id: Input should be a valid string"),
        ({"sequence_id": 7, "sequence_start": "yes"}, "sequence_start: Input should be a valid"),
    ],
)
def test_bad_sequence_parameters_get_400_on_a_real_server(shared_server, parameters, message):
    body = {"inputs": [json_input()], "parameters": parameters}
    response = httpx.post(f"{shared_server.url}{INFER}", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"].startswith(message)


def test_a_long_sequence_id_gets_422_on_v1_too(shared_server):
    body = {"inputs": [[[1.0, 2.0, 3.0]]], "sequence": {"id": "x" * 300, "start": True}}
    response = httpx.post(f"{shared_server.url}/v1/models/seed-demo/predict", json=body)
    assert response.status_code == 422
    assert response.json()["error"] == "sequence.id: String should have at most 256 characters"
