"""Prediction intervals: split-conformal half-widths per horizon step, stored in the manifest.

Training forecasts the validation part (and, in ``rnn-serve train``, backtest folds before it)
from rolling origins and keeps, for each horizon step and level, the conformal quantiles of the
signed errors that bound each tail: a forecast's interval at that level runs from the forecast
minus the lower width to the forecast plus the upper one (``half_widths``, and
``lower_widths`` where they differ). Errors are in the series' units, or, for a ``scaled`` model
(what ``rnn-serve train`` writes, fit for many series of different sizes), in units of each
series' own std, and in log space when the model takes logs: a scaled width w is then
``forecast * exp(+-w * std)``. A quantile q is the bound of the central interval of level
|2q - 1|: 0.1 and 0.9 bound the 80% interval, 0.5 is the forecast.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

DEFAULT_LEVELS = (50, 80, 90, 95, 99)


class Intervals(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    method: str = "split conformal: absolute errors of rolling-origin forecasts"
    half_widths: dict[str, list[float]] = Field(
        description="Per level (a percentage, as a string), the half-width at steps 1..horizon."
    )
    calibration: dict[str, Any] = Field(
        default_factory=dict, description="Where the errors came from (part, origins)."
    )
    coverage: dict[str, float] = Field(
        default_factory=dict, description="Share of test-period values inside, per level."
    )
    scaled: bool = Field(
        default=False, description="Widths in units of each series' std (log space if logs)."
    )
    lower_widths: dict[str, list[float]] | None = Field(
        default=None,
        description="Per level, the distance below the forecast where it differs from above "
        "(errors biased one way); half_widths is then the distance above.",
    )

    @property
    def levels(self) -> list[int]:
        return sorted(int(level) for level in self.half_widths)

    @property
    def horizon(self) -> int:
        return min(len(widths) for widths in self.half_widths.values())

    def bounds(
        self,
        forecasts: NDArray[np.floating],
        level: int,
        std: float | NDArray[np.floating] = 1.0,
        log: bool = False,
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """(n, h) forecasts -> their lower and upper bounds at ``level``, h <= horizon; ``std``
        (a number, or one per row as (n, 1)) and ``log`` are the series' for a scaled model."""
        steps = forecasts.shape[-1]
        above = np.asarray(self.half_widths[str(level)][:steps])
        below = np.asarray((self.lower_widths or self.half_widths)[str(level)][:steps])
        if self.scaled:
            above, below = above * np.asarray(std), below * np.asarray(std)
            if log:
                return forecasts * np.exp(-below), forecasts * np.exp(above)
        return forecasts - below, forecasts + above


def level_of(quantile: float) -> int:
    """The central interval a quantile bounds, in percent: 0.1 and 0.9 -> 80, 0.5 -> 0."""
    return round(abs(2 * quantile - 1) * 100)


def conformal_widths(
    errors: NDArray[np.floating], levels: tuple[int, ...] = DEFAULT_LEVELS
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """(origins, horizon) signed errors (actual - forecast), NaN outside the calibration part
    -> per level the widths below and above the forecast, each tail holding (100 - level) / 2
    percent: above, the ceil((n + 1) * (1 + level) / 2)-th smallest of the n errors; below,
    minus the floor((n + 1) * (1 - level) / 2)-th (the extremes past the ends). Where errors lean
    one way the interval leans with them; neither width is below 0 (the forecast stays inside)
    and neither shrinks with the horizon."""
    below: dict[str, list[float]] = {}
    above: dict[str, list[float]] = {}
    for level in levels:
        low, high = [], []
        for column in errors.T:
            known = np.sort(column[~np.isnan(column)])
            n, share = len(known), level / 100
            upper = min(int(np.ceil((n + 1) * (1 + share) / 2)), n)
            lower = max(int(np.floor((n + 1) * (1 - share) / 2)), 1)
            high.append(max(float(known[upper - 1]), 0.0))
            low.append(max(-float(known[lower - 1]), 0.0))
        below[str(level)] = [round(w, 6) for w in np.maximum.accumulate(low)]
        above[str(level)] = [round(w, 6) for w in np.maximum.accumulate(high)]
    return below, above
