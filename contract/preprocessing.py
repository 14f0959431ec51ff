"""Turns raw series into model inputs and model outputs back into the series' units."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from rnn_serve.contract.manifest import Preprocessing

Array = NDArray[np.float32]


class SeriesTransform:
    """A log (optional), a difference at lag 1 or at the season, then standardisation, as
    written in a model's manifest. ``lag`` raw values come before the first model input.

    With ``ids``, one per row, each row is standardised by its series' own statistics where the
    manifest has them (the pooled ones otherwise)."""

    def __init__(self, spec: Preprocessing, ids: Sequence[str | None] | None = None) -> None:
        self.lag = spec.seasonal or spec.difference
        self.log = spec.log
        known = spec.series or {}
        if ids is None or not known:
            self.mean: float | NDArray[np.float64] = spec.mean
            self.std: float | NDArray[np.float64] = spec.std
        else:
            scales = [known.get(name, spec) if name is not None else spec for name in ids]
            self.mean = np.array([[s.mean] for s in scales])
            self.std = np.array([[s.std] for s in scales])

    def encode(self, series: NDArray[np.floating]) -> Array:
        """(n, length) raw values -> (n, length - lag, 1) model inputs."""
        values = np.log(series) if self.log else series
        if self.lag:
            values = values[:, self.lag :] - values[:, : -self.lag]
        return ((values - self.mean) / self.std).astype(np.float32)[..., np.newaxis]

    def decode(self, recent: NDArray[np.floating], outputs: Array) -> NDArray[np.float64]:
        """(n, horizon, 1) model outputs -> (n, horizon) values in the series' units, given
        the ``recent`` raw values (n, at least lag) that the first forecast step follows."""
        steps: NDArray[np.float64] = outputs[..., 0].astype(np.float64) * self.std + self.mean
        if self.lag:
            known = np.asarray(recent, np.float64)[:, -self.lag :]
            levels = np.concatenate([np.log(known) if self.log else known, steps], axis=1)
            for h in range(steps.shape[1]):  # each step adds to the value one lag before it
                levels[:, self.lag + h] += levels[:, h]
            steps = np.ascontiguousarray(levels[:, self.lag :])  # orjson writes C order only
        return np.exp(steps) if self.log else steps
