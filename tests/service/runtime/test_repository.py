"""The model directory read as a repository: both layouts, version policies, refusals."""

from __future__ import annotations

import json
import shutil

import pytest

from rnn_serve.service.runtime.repository import scan
from tests.support.models import ARTIFACTS, write_random_model


def versioned(root, name, *versions, config=None):
    for version in versions:
        folder = root / name / str(version)
        folder.mkdir(parents=True)
        write_random_model(folder / "model.onnx", 2, [("gru", 4)], seed=int(version))
    if config is not None:
        (root / name / "config.json").write_text(json.dumps(config))


def found(directory):
    return sorted((v.name, v.version, v.refused is None) for v in scan(directory).versions)


def test_flat_files_and_version_folders_side_by_side(tmp_path):
    shutil.copy(ARTIFACTS / "seed-demo.json", tmp_path)
    shutil.copy(ARTIFACTS / "seed-demo.onnx", tmp_path)
    shutil.copy(ARTIFACTS / "seed-demo.scan.onnx", tmp_path)
    write_random_model(tmp_path / "bare.onnx", 2, [("rnn", 3)])
    versioned(tmp_path, "gru", 1, 2, 10)
    (tmp_path / "notes").mkdir()  # a folder without version folders is not a model
    assert found(tmp_path) == [
        ("bare", "1", True),
        ("gru", "10", True),  # the latest one by default, by number: 10 after 2
        ("seed-demo", "1", True),
    ]


@pytest.mark.parametrize(
    ("policy", "served"),
    [
        ({"latest": {"num_versions": 2}}, ["10", "2"]),
        ({"all": {}}, ["1", "10", "2"]),
        ({"specific": {"versions": [1, 2, 7]}}, ["1", "2"]),
        ({}, ["10"]),
    ],
)
def test_the_version_policy_picks_the_versions(tmp_path, policy, served):
    versioned(tmp_path, "gru", 1, 2, 10, config={"version_policy": policy} if policy else {})
    assert [v for _, v, _ in found(tmp_path)] == served


@pytest.mark.parametrize(
    ("config", "why"),
    [
        ("{", "Invalid JSON"),
        ({"version_policy": {"latest": {"num_versions": 0}}}, "num_versions"),
        ({"version_policy": {"all": {}, "latest": {}}}, "one of latest, all, specific"),
        ({"version_policy": {"newest": {}}}, "newest"),
    ],
)
def test_a_bad_config_refuses_the_model_saying_why(tmp_path, config, why):
    versioned(tmp_path, "gru", 1)
    text = config if isinstance(config, str) else json.dumps(config)
    (tmp_path / "gru" / "config.json").write_text(text)
    result = scan(tmp_path)
    assert result.versions == []
    assert "gru/config.json" in result.refused["gru"] and why in result.refused["gru"]


def test_a_manifest_must_name_its_folders_version(tmp_path):
    folder = tmp_path / "seed-demo" / "2"
    shutil.copytree(ARTIFACTS, folder, ignore=shutil.ignore_patterns("co2*"))
    (version,) = scan(tmp_path).versions
    assert version.refused == (
        "seed-demo/2: its manifest says version '1'; a version folder's manifest must name "
        "the folder's version"
    )


def test_a_version_folder_without_one_graph_is_refused(tmp_path):
    (tmp_path / "empty" / "1").mkdir(parents=True)
    versioned(tmp_path, "two", 1)
    write_random_model(tmp_path / "two" / "1" / "other.onnx", 2, [("rnn", 3)])
    refused = {v.name: v.refused for v in scan(tmp_path).versions}
    assert refused == {
        "empty": "empty/1 holds no ONNX file",
        "two": "two/1 holds 2 ONNX files and no manifest",
    }


def test_the_fingerprint_changes_with_any_file(tmp_path):
    versioned(tmp_path, "gru", 1)
    before = scan(tmp_path).versions[0].fingerprint
    assert scan(tmp_path).versions[0].fingerprint == before
    write_random_model(tmp_path / "gru" / "1" / "model.onnx", 2, [("gru", 4)], seed=5)
    assert scan(tmp_path).versions[0].fingerprint != before
