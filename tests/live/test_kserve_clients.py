"""KServe's own Python clients against a real server: InferenceRESTClient (protocol v2, JSON
and binary tensors) and InferenceGRPCClient, each answer compared with /v1's. KServe pins
versions of its own (psutil, pandas...), so these run in a virtual environment of their own:
`make kserve` (.ci/run runs it)."""

from __future__ import annotations

import asyncio

import httpx
import kserve
import numpy as np
import pytest

from tests.support.servers import Server

pytestmark = pytest.mark.kserve


@pytest.fixture(scope="module")
def served():
    with Server() as server:
        yield server


def request(inputs: np.ndarray, binary: bool) -> kserve.InferRequest:
    given = kserve.InferInput("inputs", list(inputs.shape), "FP32")
    given.set_data_from_numpy(inputs, binary_data=binary)
    return kserve.InferRequest(model_name="seed-demo", infer_inputs=[given], request_id="k-1")


def expected(server: Server, inputs: np.ndarray) -> dict:
    answer = httpx.post(
        f"{server.url}/v1/models/seed-demo/predict", json={"inputs": inputs.tolist()}
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.mark.parametrize("binary", [False, True])
def test_the_rest_client_of_protocol_v2(served, binary):
    inputs = np.random.default_rng(0).normal(size=(2, 4, 3)).astype(np.float32)

    async def infer() -> kserve.InferResponse:
        client = kserve.InferenceRESTClient(kserve.RESTConfig(protocol="v2"))
        try:
            return await client.infer(served.url, request(inputs, binary), model_name="seed-demo")
        finally:
            await client.close()

    answer = asyncio.run(infer())
    outputs = {output.name: output.as_numpy() for output in answer.outputs}
    np.testing.assert_allclose(outputs["outputs"], expected(served, inputs)["outputs"], atol=1e-6)
    assert answer.model_name == "seed-demo" and answer.id == "k-1"


def test_the_grpc_client(served):
    inputs = np.random.default_rng(1).normal(size=(3, 5, 3)).astype(np.float32)

    async def infer() -> kserve.InferResponse:
        client = kserve.InferenceGRPCClient(served.grpc)
        try:
            return await client.infer(request(inputs, True))
        finally:
            await client.close()

    answer = asyncio.run(infer())
    outputs = {output.name: output.as_numpy() for output in answer.outputs}
    np.testing.assert_allclose(outputs["state"], expected(served, inputs)["state"], atol=1e-6)
