"""Split-conformal intervals for a forecaster: calibrated on the validation part, their
coverage measured on the test period, neither of which it was trained on."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from contract.intervals import DEFAULT_LEVELS, Intervals, conformal_half_widths
from model.evaluate import Forecaster

# Half a season of the weekly co2 series: beyond it, its test-period errors outgrow those of
# the validation years (at 52 weeks their median doubles: the trend steepens), and intervals
# calibrated there would cover far less than they claim.
INTERVAL_HORIZON = 26


def errors(
    values: NDArray[np.float64],
    forecaster: Forecaster,
    at: NDArray[np.int64],
    end: int,
    horizon: int,
) -> NDArray[np.float64]:
    """(origins, horizon) absolute errors of forecasts from ``at``; NaN where the target lies
    at or after ``end``."""
    predicted = forecaster(values, at, horizon)
    targets = at[:, np.newaxis] + np.arange(1, horizon + 1)
    inside = targets < end
    actual = values[np.minimum(targets, len(values) - 1)]
    return np.where(inside, np.abs(actual - predicted), np.nan)


def calibrate(
    values: NDArray[np.float64],
    forecaster: Forecaster,
    start: int,
    end: int,
    horizon: int = INTERVAL_HORIZON,
    levels: tuple[int, ...] = DEFAULT_LEVELS,
) -> Intervals:
    """Intervals from forecasts whose origins and targets lie in [start, end)."""
    at = np.arange(start - 1, end - 1)
    widths = conformal_half_widths(errors(values, forecaster, at, end, horizon), levels)
    calibration = {"part": [start, end], "origins": len(at), "horizon": horizon}
    return Intervals(half_widths=widths, calibration=calibration)


def with_coverage(
    intervals: Intervals, values: NDArray[np.float64], forecaster: Forecaster, start: int
) -> Intervals:
    """The share of values in [start, end of series) inside each level's interval, over
    every origin and horizon step that fits."""
    at = np.arange(start - 1, len(values) - 1)
    found = errors(values, forecaster, at, len(values), intervals.horizon)
    known = ~np.isnan(found)
    coverage = {}
    for level in intervals.levels:
        width = np.asarray(intervals.half_widths[str(level)])
        inside = found <= width[np.newaxis, :]
        coverage[str(level)] = round(float(inside[known].mean()), 4)
    return intervals.model_copy(update={"coverage": coverage})
