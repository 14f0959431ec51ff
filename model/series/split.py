"""Each series cut in time: fitting, validation, test.

The test period (the last part of every series) is never seen while choosing or training; the
validation period before it decides the choices and early stopping, and calibrates the
prediction intervals. Both have the same length in every series, counted from its end.

Backtest folds move that cut back in time, a validation length at a time: the chosen network,
trained again on what precedes each fold and stopped early on it, forecasts it and the stretch
after it, so that the blend and the intervals learn from several stretches of history and not
from the validation period's alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from rnn_serve.model.series.load import DataError, Dataset, Series

SHARE = 0.1  # of the shortest series, for validation and for test, each


@dataclass(frozen=True)
class Periods:
    validation: int
    test: int

    @classmethod
    def for_dataset(cls, dataset: Dataset, horizon: int) -> Periods:
        """A tenth of the shortest series each, and at least two horizons: every horizon
        step then has origins to calibrate and score on."""
        shortest = min(len(s.values) for s in dataset.series)
        steps = max(2 * horizon, math.ceil(SHARE * shortest))
        return cls(validation=steps, test=steps)


@dataclass(frozen=True)
class SeriesSplit:
    series: Series
    validation_start: int
    test_start: int

    @property
    def id(self) -> str:
        return self.series.id

    @property
    def values(self) -> NDArray[np.float64]:
        return self.series.values

    @property
    def fit_part(self) -> NDArray[np.float64]:
        return self.values[: self.validation_start]

    @property
    def training_part(self) -> NDArray[np.float64]:
        """Everything before the test period: what the baselines are fitted on."""
        return self.values[: self.test_start]


def split(dataset: Dataset, periods: Periods, least_fit: int) -> list[SeriesSplit]:
    """Refuses, naming them, series whose fitting part would be shorter than ``least_fit``
    (the shortest window training can use, plus one target)."""
    needed = least_fit + periods.validation + periods.test
    short = [s for s in dataset.series if len(s.values) < needed]
    if short:
        listed = ", ".join(f"{s.id!r} has {len(s.values)}" for s in short)
        raise DataError(
            f"series too short: {listed}; a window plus validation and test periods "
            f"({least_fit} + {periods.validation} + {periods.test}) needs {needed} values"
        )
    found = []
    for series in dataset.series:
        test_start = len(series.values) - periods.test
        found.append(SeriesSplit(series, test_start - periods.validation, test_start))
    return found


def backtests(splits: list[SeriesSplit], most: int, least_fit: int) -> list[list[SeriesSplit]]:
    """Up to ``most`` folds, each the validation-length stretch before the last (the first
    ends where the validation period starts), as splits of the series cut at the fold's end:
    its "validation" is the fold. A series joins a fold while at least ``least_fit`` values
    precede it; folds end when none does."""
    folds = []
    for k in range(1, most + 1):
        fold = []
        for s in splits:
            length = s.test_start - s.validation_start
            end = s.validation_start - (k - 1) * length
            if end - length >= least_fit:
                cut = replace(s.series, values=s.values[:end])
                fold.append(SeriesSplit(cut, end - length, end))
        if not fold:
            break
        folds.append(fold)
    return folds


def after_folds(
    splits: list[SeriesSplit], folds: list[list[SeriesSplit]]
) -> list[list[SeriesSplit]]:
    """For each fold, the stretch right after it (the next fold in the list; the validation
    period after the first) of the series in the fold: what a network stopped early on the
    fold never saw."""
    found = []
    for later, fold in zip([splits, *folds][: len(folds)], folds, strict=True):
        members = {s.id for s in fold}
        found.append([s for s in later if s.id in members])
    return found
