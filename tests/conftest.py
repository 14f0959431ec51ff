"""Fixtures shared by the model and service tests."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from tests.support.models import ARTIFACTS, TRAINED, train_dataset

# Ray is installed only in .venv-ray (`make ray`); elsewhere its test is not collected at all.
collect_ignore = [] if importlib.util.find_spec("ray") else ["test_deploy_ray.py"]


@pytest.fixture(scope="session")
def artifacts() -> Path:
    return ARTIFACTS


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """{name: Trained}, all in one model directory (``trained_dir``)."""
    directory = tmp_path_factory.mktemp("trained")
    return {name: train_dataset(name, directory) for name in TRAINED}


@pytest.fixture(scope="session")
def trained_dir(trained: dict[str, object]) -> Path:
    return next(iter(trained.values())).plot.parent  # type: ignore[attr-defined]
