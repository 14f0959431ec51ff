"""The rnn-serve command as a new user runs it, against the real server it starts: a PyTorch
file converted into a fresh model directory and served, and `rnn-serve serve` from any
directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import torch
import tritonclient.http as triton

from rnn_serve.contract.manifest import Manifest, sha256_of
from tests.model.convert.sources import FEATURES, HIDDEN, TorchForecaster
from tests.support.models import ARTIFACTS
from tests.support.servers import Server

RNN_SERVE = str(Path(sys.executable).with_name("rnn-serve"))


def test_a_new_users_path_with_the_rnn_serve_command(tmp_path):
    """rnn-serve convert into a fresh model directory, then rnn-serve serve: predictions on
    /v1, binary /v2 through tritonclient, and concurrent requests batched together."""
    models = tmp_path / "models"
    models.mkdir()
    env = os.environ | {"RNN_SERVE_MODEL_DIR": str(models)}
    torch.manual_seed(3)
    module = TorchForecaster("lstm", 2, head=False).eval()
    torch.save(module.state_dict(), tmp_path / "my_lstm.pt")
    done = subprocess.run(
        [RNN_SERVE, "convert", str(tmp_path / "my_lstm.pt"), "--name", "my-lstm"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "my-lstm v1: pytorch lstm(5), lstm(5)" in done.stdout
    manifest = Manifest.read(models / "my-lstm.json")
    assert manifest.command == f"rnn-serve convert {tmp_path / 'my_lstm.pt'} --name my-lstm"
    assert manifest.source.file == "my_lstm.pt" and manifest.source.framework == "pytorch"
    assert manifest.source.sha256 == sha256_of(tmp_path / "my_lstm.pt")
    assert manifest.source.framework_version == torch.__version__
    assert sorted(p.name for p in models.iterdir()) == [
        "my-lstm.json",
        "my-lstm.onnx",
        "my-lstm.scan.onnx",
    ]
    with Server(env, command=[RNN_SERVE, "serve"]) as server:
        inputs = np.random.default_rng(0).normal(size=(16, 6, FEATURES)).astype(np.float32)
        with torch.no_grad():
            expected = module(torch.from_numpy(inputs), None)[0].numpy()  # from zeros

        def one(row: int) -> np.ndarray:
            answer = httpx.post(
                f"{server.url}/v1/models/my-lstm/predict",
                json={"inputs": inputs[row : row + 1].tolist()},
                timeout=30,
            )
            assert answer.status_code == 200, answer.text
            return np.array(answer.json()["outputs"])[0]

        with ThreadPoolExecutor(16) as pool:  # the dynamic batcher's rows, each its own answer
            rows = list(pool.map(one, range(16)))
        np.testing.assert_allclose(np.stack(rows), expected, atol=1e-5)
        client = triton.InferenceServerClient(server.url.removeprefix("http://"))
        tensor = triton.InferInput("inputs", list(inputs.shape), "FP32")
        tensor.set_data_from_numpy(inputs, binary_data=True)
        result = client.infer("my-lstm", [tensor])
        np.testing.assert_allclose(result.as_numpy("outputs"), expected, atol=1e-5)
        assert result.as_numpy("state").shape == (16, 4 * HIDDEN)


def test_serve_takes_a_model_dir_from_any_directory(tmp_path):
    """`rnn-serve serve --model-dir DIR` from another directory serves DIR's models alone;
    without it, the example models the package carries."""
    mine = tmp_path / "mine"
    mine.mkdir()
    for name in ("seed-demo.json", "seed-demo.onnx", "seed-demo.scan.onnx"):
        shutil.copy(ARTIFACTS / name, mine / name)
    env = {key: value for key, value in os.environ.items() if not key.startswith("RNN_SERVE_")}
    for arguments, served in [(["--model-dir", "mine"], ["seed-demo"]), ([], ["co2", "seed-demo"])]:
        with Server(env, command=[RNN_SERVE, "serve", *arguments], cwd=tmp_path) as server:
            models = httpx.get(f"{server.url}/v1/models").json()["models"]
            assert sorted(model["name"] for model in models) == served
