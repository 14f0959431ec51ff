"""Turns raw series into model inputs and model outputs back into the series' units."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from contract.manifest import Preprocessing

Array = NDArray[np.float32]


class SeriesTransform:
    """Differencing then standardisation, as written in a model's manifest."""

    def __init__(self, spec: Preprocessing) -> None:
        self.difference = spec.difference
        self.mean = spec.mean
        self.std = spec.std

    def encode(self, series: NDArray[np.floating]) -> Array:
        """(n, length) raw values -> (n, length - difference, 1) model inputs."""
        values = np.diff(series, n=self.difference, axis=1) if self.difference else series
        return ((values - self.mean) / self.std).astype(np.float32)[..., np.newaxis]

    def decode(self, last_values: NDArray[np.floating], outputs: Array) -> NDArray[np.float64]:
        """(n, horizon, 1) model outputs -> (n, horizon) values in the series' units."""
        steps: NDArray[np.float64] = outputs[..., 0].astype(np.float64) * self.std + self.mean
        if self.difference:
            steps = np.asarray(last_values, np.float64)[:, np.newaxis] + np.cumsum(steps, axis=1)
        return steps
