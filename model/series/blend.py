"""How much of the network to serve at each horizon step: the weight, against seasonal naive,
that does best on the validation period and the backtest folds together (contract/forecast.py
mixes them as the server does).

A network trained on a few dozen values can lose to seasonal naive, and early stopping on the
validation period flatters it there. The folds add origins from earlier stretches, each
forecast by the configuration trained again on what precedes it, so that the choice rests on
several periods rather than one; each series counts once per period whatever its length.
Where weight 0 wins, no network beat seasonal naive at that step, and the served forecast
there is seasonal naive's: the command says so, and so does the manifest.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from rnn_serve.contract.manifest import Blend
from rnn_serve.model.series.evaluate import Forecaster, errors, mase_scale, origins
from rnn_serve.model.series.split import SeriesSplit

WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)


@dataclass(frozen=True)
class Period:
    """Splits whose validation periods ``forecaster`` (a network) did not train on."""

    splits: list[SeriesSplit]
    forecaster: Forecaster


@dataclass(frozen=True)
class Choice:
    blend: Blend | None  # None: the network alone at every step
    network_mase: list[float]  # per horizon step, the network alone
    naive_mase: list[float]
    served_mase: list[float]

    def naive_wins(self) -> list[int]:
        """The horizon steps (from 1) where no network beat seasonal naive."""
        weights = self.blend.weights if self.blend else []
        return [h for h, w in enumerate(weights, 1) if w == 0]

    def summary(self) -> dict[str, object]:
        return {
            "weights": self.blend.weights if self.blend else [1.0] * len(self.network_mase),
            "naive_wins_at_steps": self.naive_wins(),
            "validation_mase": {
                "network": self.network_mase,
                "seasonal_naive": self.naive_mase,
                "served": self.served_mase,
            },
        }


def choose(
    periods: list[Period], naive: Forecaster, horizon: int, season: int, window: int
) -> Choice:
    """Per step, the weight in WEIGHTS with the least mean scaled error over every series of
    every period (the network's on a tie)."""
    network, baseline = [], []
    for period in periods:
        for s in period.splits:
            at = origins(s.validation_start, s.test_start)
            scale = mase_scale(s, season)
            targets = np.minimum(at[:, None] + np.arange(1, horizon + 1), len(s.values) - 1)
            actual = s.values[targets]
            known = ~np.isnan(errors(s, at, np.zeros((len(at), horizon)), s.test_start))
            network.append((period.forecaster(s, at, horizon), actual, known, scale))
            baseline.append(naive(s, at, horizon))

    def mase(weight: float) -> NDArray[np.float64]:
        per_series = []
        for (net, actual, known, scale), plain in zip(network, baseline, strict=True):
            served = weight * net + (1 - weight) * plain
            found = np.where(known, np.abs(actual - served), np.nan)
            per_series.append(np.nanmean(found, axis=0) / scale)
        return np.nanmean(np.stack(per_series), axis=0)

    table = np.stack([mase(w) for w in WEIGHTS])  # (weights, horizon)
    best = len(WEIGHTS) - 1 - np.argmin(table[::-1], axis=0)  # the larger weight on a tie
    weights = [WEIGHTS[i] for i in best]
    served = table[best, np.arange(horizon)]
    blend = None
    if min(weights) < 1 and window >= max(season, 1):
        blend = Blend(season=max(season, 1), weights=weights)
    else:
        served = table[-1]

    def rounded(values: NDArray[np.float64]) -> list[float]:
        return [round(float(v), 4) for v in values]

    return Choice(blend, rounded(table[-1]), rounded(table[0]), rounded(served))
