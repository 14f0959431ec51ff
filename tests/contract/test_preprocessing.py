"""The series transform: decoding what encoding made gives the series back, for every kind of
preprocessing a manifest can hold."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from contract.manifest import Preprocessing
from contract.preprocessing import SeriesTransform

KINDS = {
    "none": {"difference": 0},
    "difference": {"difference": 1},
    "seasonal": {"difference": 0, "seasonal": 4},
    "log-seasonal": {"difference": 0, "seasonal": 12, "log": True},
    "log-difference": {"difference": 1, "log": True},
}


@pytest.mark.parametrize("kind", KINDS)
def test_decoding_the_encoded_future_gives_it_back(kind, rng):
    transform = SeriesTransform(Preprocessing(mean=0.3, std=1.7, **KINDS[kind]))
    t = np.arange(80)
    series = np.stack([50 + 0.2 * t + 5 * np.sin(t / 2) + rng.normal(size=80) for _ in range(3)])
    encoded = transform.encode(series)
    assert encoded.shape == (3, 80 - transform.lag, 1)
    known = 60  # decode the last 20 values from the 60 before them
    future = encoded[:, known - transform.lag :]
    np.testing.assert_allclose(
        transform.decode(series[:, :known], future), series[:, known:], rtol=1e-6
    )


def test_one_differencing_only():
    with pytest.raises(ValidationError, match="one differencing, not both"):
        Preprocessing(difference=1, seasonal=12, mean=0, std=1)
