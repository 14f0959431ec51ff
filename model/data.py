"""The weekly Mauna Loa CO2 series from statsmodels, split chronologically, cut into windows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from contract.manifest import Preprocessing
from contract.preprocessing import SeriesTransform

TEST_WEEKS = 260  # the last five years are never seen in training
VALIDATION_WEEKS = 104  # the two years before them decide early stopping
SEASON = 52


@dataclass(frozen=True)
class Split:
    values: NDArray[np.float64]
    validation_start: int
    test_start: int

    @property
    def fit_part(self) -> NDArray[np.float64]:
        return self.values[: self.validation_start]

    @property
    def training_part(self) -> NDArray[np.float64]:
        """Everything before the test period: what baselines are fitted on."""
        return self.values[: self.test_start]


def load_co2() -> Split:
    from statsmodels.datasets import co2

    frame = co2.load_pandas().data
    values = frame["co2"].interpolate(method="time").bfill().to_numpy(dtype=np.float64)
    test_start = len(values) - TEST_WEEKS
    return Split(values, test_start - VALIDATION_WEEKS, test_start)


def fit_preprocessing(fit_part: NDArray[np.float64], difference: int = 1) -> Preprocessing:
    """Normalisation statistics from the fitting part only, never from validation or test."""
    values = np.diff(fit_part, n=difference) if difference else fit_part
    return Preprocessing(difference=difference, mean=float(values.mean()), std=float(values.std()))


def sliding_windows(series: NDArray[np.floating], length: int) -> NDArray[np.floating]:
    """The seed's sliding-window layout: row i is series[i : i + length]."""
    return np.lib.stride_tricks.sliding_window_view(series, length, axis=-1)


def next_step_pairs(
    encoded: NDArray[np.float32], steps: int, first_target: int = 0
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Inputs x[t : t+steps] with targets x[t+1 : t+steps+1], for windows whose last target
    index is at least ``first_target`` (so validation pairs predict validation data)."""
    windows = sliding_windows(encoded[:, 0], steps + 1)
    last_target = np.arange(len(windows)) + steps
    windows = windows[last_target >= first_target]
    inputs = np.ascontiguousarray(windows[:, :-1, np.newaxis], dtype=np.float32)
    targets = np.ascontiguousarray(windows[:, 1:, np.newaxis], dtype=np.float32)
    return inputs, targets


Pairs = tuple[NDArray[np.float32], NDArray[np.float32]]


def training_sets(split: Split, transform: SeriesTransform, steps: int) -> tuple[Pairs, Pairs]:
    fit = next_step_pairs(transform.encode(split.fit_part[np.newaxis])[0], steps)
    encoded = transform.encode(split.training_part[np.newaxis])[0]
    # Differencing shifts indices by one: diff index i predicts raw index i + 1.
    validation = next_step_pairs(encoded, steps, first_target=split.validation_start - 1)
    return fit, validation
