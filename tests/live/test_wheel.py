"""The package as a new user gets it: the wheel built from this tree, installed into a fresh
virtual environment (its dependencies through the lock), and `rnn-serve serve` started from an
empty directory, with no model directory set, serves the example models it carries. Slow (a
fresh environment): `make wheel`, which .ci/run runs after the suite."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.support.models import SEED_BATCH, direct_run
from tests.support.servers import ROOT, Server

pytestmark = pytest.mark.wheel
LOCAL = (
    ".git",
    ".venv*",
    ".gpu",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".*_cache",
    ".hypothesis",
)


def run(*command: str | Path, cwd: Path = ROOT) -> None:
    subprocess.run([str(part) for part in command], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Built from a copy of the tree: setuptools reuses the tree's build/lib, where files of an
    earlier build would make a wheel look complete that is not."""
    source, out = tmp_path_factory.mktemp("source") / "rnn-serve", tmp_path_factory.mktemp("dist")
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*LOCAL))
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", out, ".", cwd=source)
    (built,) = out.glob("rnn_serve-*.whl")
    return built


def test_the_wheel_is_one_package_with_the_models_and_the_docs_pages(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names}
    assert {top for top in tops if not top.endswith(".dist-info")} == {"rnn_serve"}
    for carried in ["model/artifacts/seed-demo.onnx", "model/artifacts/co2.json"]:
        assert f"rnn_serve/{carried}" in names
    assert "rnn_serve/service/http/static/swagger-ui/swagger-ui-bundle.js" in names


def test_installed_in_a_fresh_environment_it_serves_from_any_directory(wheel, tmp_path):
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    run(
        venv / "bin" / "python",
        "-m",
        "pip",
        "install",
        "-q",
        "-c",
        ROOT / "requirements" / "lock.txt",
        wheel,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {key: value for key, value in os.environ.items() if not key.startswith("RNN_SERVE_")}
    command = [str(venv / "bin" / "rnn-serve"), "serve"]
    with Server(env, command=command, cwd=elsewhere) as server:
        answer = httpx.post(
            f"{server.url}/v1/models/seed-demo/predict", json={"inputs": SEED_BATCH}
        )
        assert answer.status_code == 200, answer.text
        outputs, _ = direct_run("seed-demo")(np.asarray(SEED_BATCH, np.float32))
        np.testing.assert_allclose(answer.json()["outputs"], outputs, atol=1e-6)
