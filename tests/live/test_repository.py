"""The model repository on a real server: versions added, replaced, corrupted and removed under
a steady load; the index, load and unload through tritonclient; sequences on their version;
the admin key."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from tests.support.models import ARTIFACTS, write_random_model
from tests.support.servers import ROOT, Server

INPUTS = [[[0.5, -0.25], [0.1, 0.2], [0.3, -0.4]]]
ADMIN = {"Authorization": "Bearer admin-key"}


def add_version(
    root: Path, version: int, seed: int | None = None, name: str = "gru", content: bytes = b""
) -> None:
    """Written aside (``content`` in place of a model, when given), then moved into place at
    once, as a deployment tool would."""
    staging = root / f".staging-{name}-{version}"
    staging.mkdir()
    if content:
        (staging / "model.onnx").write_bytes(content)
    else:
        write_random_model(staging / "model.onnx", 2, [("gru", 4)], seed=seed or version)
    (root / name).mkdir(exist_ok=True)
    staging.rename(root / name / str(version))


def replace_file(path: Path, content: bytes) -> None:
    aside = path.with_suffix(".new")
    aside.write_bytes(content)
    os.replace(aside, path)


def start(root: Path, **env: str) -> Server:
    return Server(
        os.environ
        | {"RNN_SERVE_MODEL_DIR": str(root), "RNN_SERVE_ACCESS_LOG": "false"}
        | {f"RNN_SERVE_{key.upper()}": value for key, value in env.items()}
    )


def wait_until(check, timeout: float = 20.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise TimeoutError("the server did not pick up the change")


def index(url: str) -> dict[tuple[str, str], tuple[str, str]]:
    found = httpx.post(f"{url}/v2/repository/index").json()
    return {(e["name"], e["version"]): (e["state"], e["reason"]) for e in found}


def predict(url: str, **extra: object) -> httpx.Response:
    return httpx.post(f"{url}/v1/models/gru/predict", json={"inputs": INPUTS, **extra})


class SteadyLoad:
    """Threads posting predictions until stopped (60 s at most), keeping every outcome."""

    def __init__(self, url: str, threads: int = 3) -> None:
        self.url, self.outcomes = url, Counter[tuple[int | str, str]]()
        self.stop, self.lock = threading.Event(), threading.Lock()
        self.threads = [threading.Thread(target=self._run) for _ in range(threads)]

    def _run(self) -> None:
        deadline = time.monotonic() + 60
        with httpx.Client(timeout=30) as client:
            while not self.stop.is_set() and time.monotonic() < deadline:
                try:
                    response = client.post(
                        f"{self.url}/v1/models/gru/predict", json={"inputs": INPUTS}
                    )
                    outcome = (response.status_code, response.json().get("version", ""))
                except httpx.HTTPError as error:
                    outcome = (type(error).__name__, "")
                with self.lock:
                    self.outcomes[outcome] += 1

    def __enter__(self) -> SteadyLoad:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()


def test_versions_change_under_a_steady_load_and_nothing_fails(tmp_path):
    add_version(tmp_path, 1)
    polled = start(tmp_path, model_control="poll", model_poll_s="0.1")
    with polled as server, SteadyLoad(server.url) as load:
        url = server.url
        add_version(tmp_path, 2)  # new: loaded and warmed, then it takes the traffic
        wait_until(lambda: predict(url).json()["version"] == "2")
        assert index(url)[("gru", "1")] == ("UNAVAILABLE", "not chosen by the version policy")

        before = predict(url).json()["outputs"]
        onnx = tmp_path / "gru" / "2" / "model.onnx"
        replace_file(onnx, _random_model_bytes(tmp_path, seed=22))  # replaced in place
        wait_until(lambda: predict(url).json()["outputs"] != before)

        serving = predict(url).json()["outputs"]
        replace_file(onnx, b"corrupt")  # the loaded files serve on, and the index says why
        wait_until(lambda: index(url)[("gru", "2")][1].startswith("reload failed"))
        assert index(url)[("gru", "2")][0] == "READY"
        assert predict(url).json()["outputs"] == serving

        add_version(tmp_path, 3, content=b"corrupt")
        wait_until(lambda: index(url).get(("gru", "3"), ("",))[0] == "UNAVAILABLE")
        reason = index(url)[("gru", "3")][1]
        assert "cannot load ONNX model" in reason
        # files named as in the model directory: no answer tells where the server keeps it
        assert "gru/3/model.onnx" in reason and str(tmp_path) not in reason
        missing = httpx.get(f"{url}/v2/models/gru/versions/3")
        assert missing.status_code == 404 and "gru/3/model.onnx" in missing.json()["error"]
        assert str(tmp_path) not in missing.text
        assert predict(url).json()["version"] == "2"  # a newer version that fails changes nothing

        shutil.rmtree(tmp_path / "gru" / "3")
        shutil.rmtree(tmp_path / "gru" / "2")  # removed: the latest left on disk serves
        wait_until(lambda: predict(url).json()["version"] == "1")
        time.sleep(0.3)  # more load on the version now serving
    assert set(load.outcomes) <= {(200, "1"), (200, "2")}, load.outcomes
    assert load.outcomes[(200, "1")] > 0 and load.outcomes[(200, "2")] > 0
    # logged once: the same broken files are not tried again at every poll
    (line,) = [line for line in server.output().splitlines() if "model gru v3 not loaded" in line]
    assert '"level": "error"' in line and "cannot load ONNX model" in line
    assert str(tmp_path / "gru" / "3" / "model.onnx") in line  # the log keeps the whole path


def _random_model_bytes(tmp_path: Path, seed: int) -> bytes:
    path = tmp_path / f"seed-{seed}.onnx.tmp"
    write_random_model(path, 2, [("gru", 4)], seed=seed)
    data = path.read_bytes()
    path.unlink()
    return data


@pytest.fixture
def repository(tmp_path):
    """The shipped models, flat, beside gru in versions 1 and 2 (policy: all)."""
    for path in ARTIFACTS.iterdir():
        shutil.copy(path, tmp_path)
    add_version(tmp_path, 1)
    add_version(tmp_path, 2)
    (tmp_path / "gru" / "config.json").write_text('{"version_policy": {"all": {}}}')
    return tmp_path


def test_index_load_and_unload_through_tritonclient(repository):
    with start(repository, model_control="explicit") as server:
        client = triton.InferenceServerClient(server.url.removeprefix("http://"))
        found = {(m["name"], m["version"]): m["state"] for m in client.get_model_repository_index()}
        assert found == {
            ("co2", "1"): "READY",
            ("gru", "1"): "READY",
            ("gru", "2"): "READY",
            ("seed-demo", "1"): "READY",
        }
        assert client.is_model_ready("gru", "1") and client.is_model_ready("gru", "2")
        assert client.get_model_metadata("gru")["versions"] == ["1", "2"]
        one = triton.InferInput("inputs", [1, 3, 2], "FP32")
        one.set_data_from_numpy(np.asarray(INPUTS, np.float32))
        assert client.infer("gru", [one], model_version="1").get_response()["model_version"] == "1"
        assert client.infer("gru", [one]).get_response()["model_version"] == "2"  # the newest

        client.unload_model("gru")
        states = {
            m["version"]: m for m in client.get_model_repository_index() if m["name"] == "gru"
        }
        assert {v: (m["state"], m["reason"]) for v, m in states.items()} == {
            "1": ("UNAVAILABLE", "unloaded by request"),
            "2": ("UNAVAILABLE", "unloaded by request"),
        }
        with pytest.raises(InferenceServerException, match="unknown model 'gru'"):
            client.infer("gru", [one])
        assert client.get_model_repository_index() != []
        client.load_model("gru")
        assert client.is_model_ready("gru")
        with pytest.raises(InferenceServerException, match="'nothing' cannot be loaded"):
            client.load_model("nothing")
        with pytest.raises(InferenceServerException, match=r"parameters\.config: loading a model"):
            client.load_model("gru", config='{"backend": "onnxruntime"}')
        ready_only = httpx.post(f"{server.url}/v2/repository/index", json={"ready": True})
        assert len(ready_only.json()) == 4
        bad = httpx.post(f"{server.url}/v2/repository/index", json={"ready": "yes"})
        assert bad.status_code == 400 and "ready" in bad.json()["error"]
        metrics = httpx.get(f"{server.url}/metrics").text
    assert 'rnn_serve_model_loads_total{model="gru",result="ok"} 4.0' in metrics
    assert 'rnn_serve_model_versions{model="gru"} 2.0' in metrics


def test_a_sequence_stays_on_its_version_and_ends_when_it_goes(tmp_path):
    add_version(tmp_path, 1)
    (tmp_path / "gru" / "config.json").write_text(
        '{"version_policy": {"latest": {"num_versions": 2}}}'
    )
    sequence = {"id": "s-1", "start": True}
    with start(tmp_path, model_control="poll", model_poll_s="0.1") as server:
        url = server.url
        first = predict(url, sequence=sequence).json()
        add_version(tmp_path, 2)
        wait_until(lambda: predict(url).json()["version"] == "2")
        going_on = predict(url, sequence={"id": "s-1"})
        assert going_on.json()["version"] == "1"
        assert going_on.json()["sequence"]["steps"] == 6
        assert going_on.json()["outputs"] != first["outputs"]  # from the state it left
        named = predict(url, sequence={"id": "s-1"}, version="2")
        assert named.status_code == 422
        assert "runs on version '1' of model 'gru', not '2'" in named.json()["error"]

        shutil.rmtree(tmp_path / "gru" / "1")
        wait_until(
            lambda: ("gru", "1") not in {k for k, v in index(url).items() if v[0] == "READY"}
        )
        ended = predict(url, sequence={"id": "s-1"})
        assert ended.status_code == 410
        assert ended.json()["error"].startswith(
            "sequence 's-1' ran on version '1' of model 'gru', which is no longer served"
        )
        assert "removed from the repository" in ended.json()["error"]
        assert predict(url, sequence=sequence).json()["version"] == "2"  # a new one: the newest


def test_repository_changes_need_an_admin_key(repository):
    with start(
        repository, model_control="explicit", api_keys="user-key", admin_keys="admin-key"
    ) as server:

        def post(path: str, key: str | None) -> httpx.Response:
            headers = {"Authorization": f"Bearer {key}"} if key else {}
            return httpx.post(f"{server.url}{path}", headers=headers)

        assert post("/v2/repository/models/gru/unload", None).status_code == 401
        refused = post("/v2/repository/models/gru/unload", "user-key")
        assert refused.status_code == 403
        assert "needs an admin key (RNN_SERVE_ADMIN_KEYS)" in refused.json()["error"]
        assert post("/v2/repository/index", "user-key").status_code == 200  # reading is not
        assert post("/v2/repository/models/gru/unload", "admin-key").status_code == 200
        assert post("/v2/repository/models/gru/load", "admin-key").status_code == 200
        ready = httpx.get(f"{server.url}/v2/models/gru/ready", headers=ADMIN)
        assert ready.status_code == 200  # an admin key is an API key too


@pytest.mark.parametrize("control", ["none", "poll"])
def test_only_explicit_model_control_loads_and_unloads(repository, control):
    """As Triton's default: the served models change only when the operator says they may."""
    with start(repository, model_control=control) as server:
        for change in ("load", "unload"):
            refused = httpx.post(f"{server.url}/v2/repository/models/gru/{change}")
            assert refused.status_code == 403, refused.text
            assert f"RNN_SERVE_MODEL_CONTROL is '{control}'" in refused.json()["error"]
        assert httpx.post(f"{server.url}/v2/repository/index").status_code == 200
        assert predict(server.url).status_code == 200


def test_a_page_of_another_origin_cannot_change_the_models(repository):
    with start(repository, model_control="explicit") as server:
        url = f"{server.url}/v2/repository/models/gru/unload"
        refused = httpx.post(url, headers={"Origin": "http://evil.example"})
        assert refused.status_code == 403
        assert "another origin (http://evil.example)" in refused.json()["error"]
        host = server.url.removeprefix("http://")
        assert httpx.post(url, headers={"Origin": server.url, "Host": host}).status_code == 200


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"model_control": "explicit"},
            "RNN_SERVE_MODEL_CONTROL=explicit lets clients load and unload models: on 0.0.0.0",
        ),
        ({"model_poll_s": "1"}, "RNN_SERVE_MODEL_POLL_S is set but RNN_SERVE_MODEL_CONTROL"),
        ({"api_keys": "#k1"}, "RNN_SERVE_API_KEYS: a key may not start with '#'"),
        ({"api_keys": "k1,,k2"}, "RNN_SERVE_API_KEYS holds an empty key"),
        ({"admin_keys": "k1,"}, "RNN_SERVE_ADMIN_KEYS holds an empty key"),
    ],
)
def test_unsafe_settings_stop_the_start(repository, env, message):
    """Each refused before listening, naming the setting (on every address, so that the
    explicit mode's address check has one to refuse)."""
    variables = {f"RNN_SERVE_{key.upper()}": value for key, value in env.items()}
    stopped = subprocess.run(
        [sys.executable, "-m", "rnn_serve.service", "--host", "0.0.0.0", "--port", "0"],
        env=os.environ | {"RNN_SERVE_MODEL_DIR": str(repository)} | variables,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert stopped.returncode != 0
    assert message in stopped.stderr
