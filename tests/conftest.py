"""Fixtures shared by the model and service tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

ARTIFACTS = Path(__file__).resolve().parent.parent / "model" / "artifacts"
SHIPPED = ("co2", "seed-demo")

# The seed's worked example: batch 6, steps 5, features 3, as sliding windows over 1..20.
SEED_BATCH = [[[b + 3 * s + f for f in range(1, 4)] for s in range(5)] for b in range(6)]


@pytest.fixture(scope="session")
def artifacts() -> Path:
    return ARTIFACTS


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
