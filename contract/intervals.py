"""Prediction intervals: split-conformal half-widths per horizon step, stored in the manifest.

Training forecasts the validation part (and, in ``rnn-serve train``, backtest folds before it)
from rolling origins and keeps, for each horizon step and level, the conformal quantile of the
absolute errors. A forecast's interval at that level
is the forecast plus or minus it. Errors are in the series' units, or, for a ``scaled`` model
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
        width = np.asarray(self.half_widths[str(level)][: forecasts.shape[-1]])
        if not self.scaled:
            return forecasts - width, forecasts + width
        width = width * np.asarray(std)
        if log:
            return forecasts * np.exp(-width), forecasts * np.exp(width)
        return forecasts - width, forecasts + width


def level_of(quantile: float) -> int:
    """The central interval a quantile bounds, in percent: 0.1 and 0.9 -> 80, 0.5 -> 0."""
    return round(abs(2 * quantile - 1) * 100)


def conformal_half_widths(
    errors: NDArray[np.floating], levels: tuple[int, ...] = DEFAULT_LEVELS
) -> dict[str, list[float]]:
    """(origins, horizon) absolute errors, NaN where the target lies outside the calibration
    part -> per level the finite-sample conformal quantile at each step: the
    ceil((n + 1) * level)-th smallest of the n errors (the largest when that exceeds n).
    Widths never shrink with the horizon: a later step has fewer origins to learn from, and
    uncertainty does not fall with distance."""
    widths: dict[str, list[float]] = {}
    for level in levels:
        per_step = []
        for column in errors.T:
            known = np.sort(column[~np.isnan(column)])
            rank = min(int(np.ceil((len(known) + 1) * level / 100)), len(known))
            per_step.append(float(known[rank - 1]))
        widths[str(level)] = [round(w, 6) for w in np.maximum.accumulate(per_step)]
    return widths
