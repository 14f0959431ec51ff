"""/v2, the Open Inference Protocol, in process: JSON and binary tensors, and errors that name
the tensor (the official Triton client against a real server: tests/live/test_tritonclient.py)."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from rnn_serve.service.http.oip import HEADER_LENGTH
from tests.support.models import SEED_BATCH

INFER = "/v2/models/seed-demo/infer"


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
    ("extra", "status", "message"),
    [
        ({"model_name": "seed-demo", "id": "k-1"}, 200, None),  # as KServe's client sends it
        ({"model_name": "seed-demo", "model_version": "1", "parameters": None}, 200, None),
        ({"model_name": "co2"}, 400, "model_name 'co2' in the body differs from the path's"),
        ({"model_version": "7"}, 404, "model 'seed-demo' has no version '7'"),
    ],
)
def test_the_body_may_name_its_model_as_the_path_does(client, extra, status, message):
    body = {"inputs": [json_input(parameters=None)], **extra}
    response = client.post(INFER, json=body)
    assert response.status_code == status, response.text
    if message is None:
        assert response.json()["model_name"] == "seed-demo"
    else:
        assert response.json()["error"].startswith(message)


def test_a_version_in_the_body_must_match_the_path_s(client):
    body = {"inputs": [json_input()], "model_version": "2"}
    response = client.post("/v2/models/seed-demo/versions/1/infer", json=body)
    assert response.status_code == 400
    assert response.json()["error"] == ("model_version '2' in the body differs from the path's '1'")
