"""Sequences on real servers: two processes continuing one sequence through Redis, and bad
sequence parameters refused as uvicorn delivers them."""

from __future__ import annotations

import os
import uuid

import httpx
import numpy as np
import pytest

from tests.support.models import direct_run
from tests.support.servers import Server

PREDICT = "/v1/models/seed-demo/predict"


def test_two_servers_sharing_redis_continue_one_sequence(redis_url, rng):
    env = os.environ | {"RNN_SERVE_STATE_URL": redis_url}
    servers = [Server(env), Server(env)]
    try:
        for server in servers:
            server.wait_ready()
        inputs = rng.normal(size=(1, 8, 3)).astype(np.float32)
        sequence = uuid.uuid4().hex
        for index in range(8):
            url = servers[index % 2].url + PREDICT
            spec = {"id": sequence, "start": index == 0}
            answer = httpx.post(
                url, json={"inputs": inputs[:, index : index + 1].tolist(), "sequence": spec}
            ).json()
        np.testing.assert_allclose(answer["state"], direct_run("seed-demo")(inputs)[1], atol=1e-5)
        info = httpx.get(servers[0].url + "/v1/models").json()["sequences"]
        assert info["store"] == "redis" and info["live"] >= 1
    finally:
        for server in servers:
            server.stop()


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
    one_step = {"name": "inputs", "shape": [1, 1, 3], "datatype": "FP32", "data": [1.0, 2.0, 3.0]}
    body = {"inputs": [one_step], "parameters": parameters}
    response = httpx.post(f"{shared_server.url}/v2/models/seed-demo/infer", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"].startswith(message)


def test_a_long_sequence_id_gets_422_on_v1_too(shared_server):
    body = {"inputs": [[[1.0, 2.0, 3.0]]], "sequence": {"id": "x" * 300, "start": True}}
    response = httpx.post(f"{shared_server.url}/v1/models/seed-demo/predict", json=body)
    assert response.status_code == 422
    assert response.json()["error"] == "sequence.id: String should have at most 256 characters"
