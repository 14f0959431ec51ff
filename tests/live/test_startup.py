"""Starting a real server: a faulty model stops the process with the file named, a good start
serves predictions, and liveness answers while a heavy inference runs."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest

from tests.support.models import SEED_BATCH, provider_in_use, remove, tamper, write_random_model
from tests.support.servers import ON_THE_CPU, ROOT, Server


@pytest.mark.parametrize("fault", [tamper, remove])
def test_a_faulty_model_makes_the_process_exit_non_zero(model_dir, fault):
    expected = fault(model_dir)
    env = os.environ | {"RNN_SERVE_MODEL_DIR": str(model_dir), "RNN_SERVE_PORT": "0"}
    result = subprocess.run(
        [sys.executable, "-m", "rnn_serve.service"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert f"cannot start: model file {expected}" in result.stdout + result.stderr


def test_real_uvicorn_process_serves_predictions(server: Server):
    response = httpx.post(f"{server.url}/v1/models/seed-demo/predict", json={"inputs": SEED_BATCH})
    assert response.status_code == 200
    assert np.shape(response.json()["outputs"]) == (6, 5, 7)
    assert httpx.get(f"{server.url}/v1/models/nope").status_code == 404
    log = server.stop()
    assert f"execution provider: {provider_in_use()}" in log


def test_inference_does_not_block_the_event_loop(tmp_path):
    """Liveness keeps answering while a heavy inference with a small body runs."""
    write_random_model(tmp_path / "heavy.onnx", 1, [("rnn", 512)], [1])
    with Server(os.environ | ON_THE_CPU | {"RNN_SERVE_MODEL_DIR": str(tmp_path)}) as server:
        heavy = {"inputs": np.ones((16, 2000, 1)).tolist()}  # 32k numbers, ~17 GFLOP
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(
                httpx.post, f"{server.url}/v1/models/heavy/predict", json=heavy, timeout=120
            )
            answered_meanwhile = 0
            while not pending.done():
                live = httpx.get(f"{server.url}/v2/health/live", timeout=120)
                answered_meanwhile += live.status_code == 200 and not pending.done()
            assert pending.result().status_code == 200
        assert answered_meanwhile >= 3
