"""The served models changing while serving: which version a request gets, what a failed
load leaves in place, the index, unload and load."""

from __future__ import annotations

import asyncio
import shutil

import numpy as np
import pytest

from rnn_serve.service.app import loader
from rnn_serve.service.engine.dataplane import DataPlane
from rnn_serve.service.engine.models import Models
from rnn_serve.service.engine.threads import Threads
from rnn_serve.service.errors import LoadRefused, ModelLoadError, ModelNotFound
from rnn_serve.service.metrics import Metrics
from rnn_serve.service.settings import Settings
from tests.support.models import ARTIFACTS, write_random_model


def add_version(root, version, seed=None, name="gru"):
    folder = root / name / str(version)
    staging = root / f".{name}-{version}"  # written aside, then moved in at once
    staging.mkdir()
    write_random_model(staging / "model.onnx", 2, [("gru", 4)], seed=seed or int(version))
    folder.parent.mkdir(exist_ok=True)
    staging.rename(folder)


def open_models(root) -> tuple[Models, Metrics]:
    settings = Settings(model_dir=root, batching=False)
    metrics = Metrics()
    dataplane = DataPlane(settings, metrics, Threads(1))
    models = Models(root, loader(settings), dataplane.deploy, metrics)
    models.open()
    return models, metrics


def states(models):
    return {(e["name"], e["version"]): (e["state"], e["reason"]) for e in models.index()}


def outputs(models, version=None):
    model = models.get("gru", version).model
    return model.predictor.run(np.ones((1, 3, 2), np.float32), None)[0]


def test_the_newest_ready_version_serves_unless_one_is_named(tmp_path):
    add_version(tmp_path, 1)
    (tmp_path / "gru" / "config.json").write_text('{"version_policy": {"all": {}}}')
    add_version(tmp_path, 2)
    models, metrics = open_models(tmp_path)
    assert models.get("gru").model.version == "2"
    assert models.get("gru", "1").model.version == "1"
    assert models.versions("gru") == ["1", "2"]
    with pytest.raises(ModelNotFound, match="model 'gru' has no version '3' ready; ready: 1, 2"):
        models.get("gru", "3")
    assert metrics.versions.labels("gru")._value.get() == 2


def test_start_up_stops_on_any_fault(tmp_path):
    add_version(tmp_path, 1)
    (tmp_path / "gru" / "1" / "model.onnx").write_bytes(b"not onnx")
    with pytest.raises(ModelLoadError):
        open_models(tmp_path)


def test_new_changed_and_removed_versions_are_picked_up(tmp_path):
    add_version(tmp_path, 1)
    models, metrics = open_models(tmp_path)
    first = models.get("gru")
    add_version(tmp_path, 2)
    assert asyncio.run(models.refresh()) == {}
    assert models.get("gru").model.version == "2"
    assert states(models) == {
        ("gru", "1"): ("UNAVAILABLE", "not chosen by the version policy"),
        ("gru", "2"): ("READY", ""),
    }
    before = outputs(models)
    write_random_model(tmp_path / "gru" / "2" / "model.onnx", 2, [("gru", 4)], seed=99)
    asyncio.run(models.refresh())
    assert not np.allclose(outputs(models), before)  # the new files serve
    # the deployment an earlier request took still runs on what it started on
    assert first.model.predictor.run(np.ones((1, 3, 2), np.float32), None)[0].shape == (1, 3, 4)
    shutil.rmtree(tmp_path / "gru" / "2")
    asyncio.run(models.refresh())
    assert models.get("gru").model.version == "1"  # the latest on disk again
    assert states(models)["gru", "2"] == ("UNAVAILABLE", "removed from the repository")
    shutil.rmtree(tmp_path / "gru")
    asyncio.run(models.refresh())
    with pytest.raises(ModelNotFound, match="unknown model 'gru'"):
        models.get("gru")
    assert metrics.loads.labels("gru", "ok")._value.get() == 4


def test_a_version_that_fails_to_load_leaves_the_previous_files_serving(tmp_path):
    add_version(tmp_path, 1)
    models, metrics = open_models(tmp_path)
    before = outputs(models)
    (tmp_path / "gru" / "1" / "model.onnx").write_bytes(b"corrupt")
    failed = asyncio.run(models.refresh())
    assert list(failed) == ["gru v1"]
    np.testing.assert_array_equal(outputs(models), before)
    state, reason = states(models)["gru", "1"]
    assert state == "READY" and reason.startswith("reload failed, still serving the previous")
    assert asyncio.run(models.refresh()) == {}  # the same broken files are not tried again
    assert metrics.loads.labels("gru", "failed")._value.get() == 1
    add_version(tmp_path, 2)
    (tmp_path / "gru" / "2" / "model.onnx").write_bytes(b"corrupt")
    asyncio.run(models.refresh())
    assert states(models)["gru", "2"][0] == "UNAVAILABLE"
    # the policy (latest 1) chooses 2, which cannot serve: 1 serves on
    assert models.get("gru").model.version == "1"
    add_version(tmp_path, 3)
    asyncio.run(models.refresh())
    assert models.versions("gru") == ["3"]  # now the policy's choice serves, 1 goes


def test_unload_stops_a_model_until_it_is_loaded_again(tmp_path):
    add_version(tmp_path, 1)
    models, _ = open_models(tmp_path)
    asyncio.run(models.unload("gru"))
    assert states(models)["gru", "1"] == ("UNAVAILABLE", "unloaded by request")
    asyncio.run(models.refresh())  # the poller leaves it alone
    with pytest.raises(ModelNotFound, match=r"unknown model 'gru' \(v1: unloaded by request\)"):
        models.get("gru")
    asyncio.run(models.load("gru"))
    assert models.get("gru").model.version == "1"
    with pytest.raises(ModelNotFound):
        asyncio.run(models.unload("nothing"))
    with pytest.raises(LoadRefused, match="'nothing' cannot be loaded: it is not in the repo"):
        asyncio.run(models.load("nothing"))
    add_version(tmp_path, 1, name="broken")
    (tmp_path / "broken" / "1" / "model.onnx").write_bytes(b"corrupt")
    with pytest.raises(LoadRefused, match="'broken' cannot be loaded: broken v1: "):
        asyncio.run(models.load("broken"))


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        (lambda folder: (folder / "seed-demo.onnx").write_bytes(b"x"), "does not match its manif"),
        (lambda folder: (folder / "seed-demo.json").write_text("{"), "invalid manifest"),
    ],
)
def test_a_tampered_graph_or_a_bad_manifest_leaves_the_loaded_files_serving(tmp_path, damage, why):
    folder = tmp_path / "seed-demo" / "1"
    shutil.copytree(ARTIFACTS, folder, ignore=shutil.ignore_patterns("co2*"))
    models, _ = open_models(tmp_path)
    damage(folder)
    asyncio.run(models.refresh())
    state, reason = states(models)["seed-demo", "1"]
    assert state == "READY" and why in reason
    assert models.get("seed-demo").model.version == "1"
