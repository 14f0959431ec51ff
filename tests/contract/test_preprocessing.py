"""The series transform: decoding what encoding made gives the series back, for every kind of
preprocessing a manifest can hold."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from rnn_serve.contract.manifest import Preprocessing, Scale
from rnn_serve.contract.preprocessing import SeriesTransform

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


def test_each_known_series_is_standardised_by_its_own_statistics(rng):
    scales = {"small": Scale(mean=0.1, std=0.5), "large": Scale(mean=40.0, std=90.0)}
    spec = Preprocessing(difference=1, mean=20.0, std=45.0, series=scales)
    series = np.stack([np.cumsum(rng.normal(0.1, 0.5, 50)), np.cumsum(rng.normal(40, 90, 50))])
    for ids in (["small", "large"], ["large", "small"], [None, "unknown"]):
        transform = SeriesTransform(spec, ids)
        expected = [
            (np.diff(row) - scales.get(i, spec).mean) / scales.get(i, spec).std
            for row, i in zip(series, ids, strict=True)
        ]
        encoded = transform.encode(series)
        np.testing.assert_allclose(encoded[..., 0], expected, rtol=1e-5)
        decoded = transform.decode(series[:, :30], encoded[:, 29:])
        np.testing.assert_allclose(decoded, series[:, 30:], rtol=1e-5)
    assert SeriesTransform(spec).mean == 20.0  # without ids, the pooled statistics
