"""How much of the network to serve at each horizon step: the weight, against seasonal naive,
that does best on the periods it is given together, for each series of a panel and pooled
over them (contract/forecast.py mixes them as the server does).

A network trained on a few dozen values can lose to seasonal naive, and early stopping on the
validation period flatters it there. So the periods come from the backtest folds (train.py):
each fold's network, the configuration trained again on what precedes the fold and stopped
early on it, forecasts the stretch after the fold, which it never saw, so that the choice
rests on several periods rather than one, none flattered; each series counts once per period
whatever its length. Without folds, the validation period is all there is.
A weight is kept only if it did no worse than seasonal naive in every period: a blend that wins
on average through one good period and loses in the others is a bet on that period coming
back. Where weight 0 wins, no network beat seasonal naive in every period at that step, and
the served forecast there is seasonal naive's: the command says so, and so does the manifest.
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
    """Splits whose validation periods ``forecaster`` (a network) neither trained nor stopped
    early on, where there are folds."""

    splits: list[SeriesSplit]
    forecaster: Forecaster


@dataclass(frozen=True)
class Choice:
    blend: Blend | None  # None: the network alone at every step
    network_mase: list[float]  # per horizon step, the network alone
    naive_mase: list[float]
    served_mase: list[float]

    def naive_wins(self) -> dict[str, list[int]]:
        """Per series id ("" for a single series, or a panel's pooled weights where no series
        has its own), the horizon steps (from 1) where seasonal naive is served."""
        if self.blend is None:
            return {}
        found = self.blend.series or {"": self.blend.weights}
        lost = {
            name: [h for h, w in enumerate(weights, 1) if w == 0] for name, weights in found.items()
        }
        return {name: steps for name, steps in lost.items() if steps}

    def summary(self) -> dict[str, object]:
        return {
            "weights": self.blend.weights if self.blend else [1.0] * len(self.network_mase),
            "series": self.blend.series if self.blend else None,
            "naive_wins_at_steps": self.naive_wins(),
            "validation_mase": {
                "network": self.network_mase,
                "seasonal_naive": self.naive_mase,
                "served": self.served_mase,
            },
        }


@dataclass(frozen=True)
class _Row:
    """One series in one period: the network's and naive's forecasts, what happened."""

    id: str
    period: int
    network: NDArray[np.float64]
    naive: NDArray[np.float64]
    actual: NDArray[np.float64]
    known: NDArray[np.bool_]
    scale: float

    def mase(self, weight: float) -> NDArray[np.float64]:
        served = weight * self.network + (1 - weight) * self.naive
        found = np.where(self.known, np.abs(self.actual - served), np.nan)
        return np.nanmean(found, axis=0) / self.scale


def choose(
    periods: list[Period], naive: Forecaster, horizon: int, season: int, window: int
) -> Choice:
    """Per step, of the weights in WEIGHTS no worse than naive's in any period, the one with the
    least mean scaled error over every period, for each series and pooled over them (for ids
    the model does not know); the network's on a tie."""
    rows = []
    for p, period in enumerate(periods):
        for s in period.splits:
            at = origins(s.validation_start, s.test_start)
            targets = np.minimum(at[:, None] + np.arange(1, horizon + 1), len(s.values) - 1)
            known = ~np.isnan(errors(s, at, np.zeros((len(at), horizon)), s.test_start))
            forecasts = period.forecaster(s, at, horizon)
            plain = naive(s, at, horizon)
            rows.append(
                _Row(s.id, p, forecasts, plain, s.values[targets], known, mase_scale(s, season))
            )

    def scores(members: list[_Row]) -> NDArray[np.float64]:
        """(weights, horizon): the mean scaled error of each weight at each step."""
        return np.stack([np.mean([r.mase(w) for r in members], axis=0) for w in WEIGHTS])

    def best(members: list[_Row]) -> tuple[list[float], NDArray[np.float64]]:
        table = scores(members)
        held = np.ones_like(table, dtype=bool)
        for p in {r.period for r in members}:
            alone = scores([r for r in members if r.period == p])
            held &= alone <= alone[0]  # weight 0 is seasonal naive
        kept = np.where(held, table, np.inf)
        chosen = len(WEIGHTS) - 1 - np.argmin(kept[::-1], axis=0)  # the larger on a tie
        return [WEIGHTS[i] for i in chosen], table

    pooled, table = best(rows)
    ids = sorted({r.id for r in rows})
    own = {name: best([r for r in rows if r.id == name])[0] for name in ids} if len(ids) > 1 else {}
    weights_of = {name: own.get(name, pooled) for name in ids}
    served = np.mean([[r.mase(w)[h] for h, w in enumerate(weights_of[r.id])] for r in rows], axis=0)
    blend = None
    if min(min(w) for w in [pooled, *own.values()]) < 1 and window >= max(season, 1):
        blend = Blend(season=max(season, 1), weights=pooled, series=own or None)
    else:
        served = table[-1]

    def rounded(values: NDArray[np.float64]) -> list[float]:
        return [round(float(v), 4) for v in values]

    return Choice(blend, rounded(table[-1]), rounded(table[0]), rounded(served))
