"""Prediction intervals and quantiles of a forecast, from the model's calibrated half-widths
(contract/intervals.py): checked before the forecast runs (``check_intervals``), added after
(``around``)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from rnn_serve.contract.intervals import level_of
from rnn_serve.service.errors import InvalidInput
from rnn_serve.service.runtime.loader import ServedModel


def check_intervals(
    model: ServedModel, levels: list[int] | None, quantiles: list[float] | None, horizon: int
) -> None:
    """422 naming the field when the model has no intervals at a requested level, or none
    calibrated that far ahead."""
    field = "levels" if levels else "quantiles"
    needed = _levels_needed(levels, quantiles)
    if not needed:
        return
    intervals = model.intervals
    if intervals is None:
        raise InvalidInput(
            f"model {model.name!r} has no calibrated prediction intervals "
            "(rnn-serve train calibrates them)",
            loc=[field],
            kind="unsupported",
        )
    missing = sorted(needed - set(intervals.levels))
    if missing:
        raise InvalidInput(
            f"model {model.name!r} has intervals at levels {intervals.levels}, not {missing}"
            + (" (quantile q asks for level |2q - 1|)" if field == "quantiles" else ""),
            loc=[field],
            kind="unsupported",
        )
    if horizon > intervals.horizon:
        raise InvalidInput(
            f"model {model.name!r} has intervals calibrated up to horizon {intervals.horizon}; "
            f"ask for at most {intervals.horizon} steps, or for no intervals",
            loc=["horizon"],
            kind="limit",
        )


def around(
    model: ServedModel,
    forecasts: NDArray[np.floating],
    levels: list[int] | None,
    quantiles: list[float] | None,
    ids: list[str] | None = None,
) -> dict[str, Any]:
    """{"intervals": {level: (lower, upper)}, "quantiles": {q: values}}, for those asked, of
    the series ``ids`` when given (a scaled model widens each by its series' own scale)."""
    found: dict[str, Any] = {}
    if not _levels_needed(levels, quantiles) and not quantiles:
        return found
    intervals = model.intervals
    transform = model.transform_for(ids)
    assert transform is not None  # only forecasting models get here

    def bounds(level: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        assert intervals is not None  # check_intervals() ran first
        return intervals.bounds(forecasts, level, transform.std, transform.log)

    if levels:
        found["intervals"] = {str(level): bounds(level) for level in levels}
    if quantiles:
        found["quantiles"] = {}
        for q in quantiles:
            level = level_of(q)
            if level == 0:
                found["quantiles"][str(q)] = forecasts
                continue
            lower, upper = bounds(level)
            found["quantiles"][str(q)] = lower if q < 0.5 else upper
    return found


def _levels_needed(levels: list[int] | None, quantiles: list[float] | None) -> set[int]:
    asked = {level_of(q) for q in quantiles or []} - {0}
    return set(levels or []) | asked
