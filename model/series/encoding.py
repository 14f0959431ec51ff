"""The preprocessing candidates, fitted on the fitting parts only, and the training pairs they
make: every series standardised by its own statistics, its windows pooled into one set."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from rnn_serve.contract.manifest import Preprocessing, Scale
from rnn_serve.contract.preprocessing import SeriesTransform
from rnn_serve.model.series.split import SeriesSplit

Pairs = tuple[NDArray[np.float32], NDArray[np.float32]]
MAX_WINDOWS = 512  # training windows per epoch, all series together (more overlap, not data)


@dataclass(frozen=True)
class Kind:
    """A preprocessing before its statistics: a log or not, and which differencing."""

    log: bool = False
    difference: int = 0  # 0 or 1
    seasonal: int | None = None  # difference at this lag instead

    @property
    def lag(self) -> int:
        return self.seasonal or self.difference

    def label(self) -> str:
        if self.seasonal:
            step = f"seasonal difference {self.seasonal}"
        else:
            step = "difference" if self.difference else "levels"
        return f"log, {step}" if self.log else step


def kinds(splits: list[SeriesSplit], season: int) -> list[Kind]:
    """Levels, a difference, and a seasonal difference when there is a season; each also on
    logs when every value is positive (a multiplicative series becomes additive)."""
    steps = [Kind(), Kind(difference=1)]
    if season > 1:
        steps.append(Kind(seasonal=season))
    positive = all(bool((s.training_part > 0).all()) for s in splits)
    logs = [Kind(True, k.difference, k.seasonal) for k in steps] if positive else []
    return steps + logs


def fit(kind: Kind, splits: list[SeriesSplit]) -> Preprocessing:
    """Means and stds of each series' fitting part after the log and differencing; the pooled
    ones serve series the model was not trained on."""
    bare = Preprocessing(
        difference=kind.difference, seasonal=kind.seasonal, log=kind.log, mean=0.0, std=1.0
    )
    transform = SeriesTransform(bare)
    parts = [transform.encode(s.fit_part[np.newaxis])[0, :, 0].astype(np.float64) for s in splits]
    pooled = np.concatenate(parts)
    scales = {s.id: _scale(part) for s, part in zip(splits, parts, strict=True)}
    return bare.model_copy(
        update={
            "mean": float(pooled.mean()),
            "std": _std(pooled),
            "series": scales if len(splits) > 1 else None,
        }
    )


def _scale(values: NDArray[np.float64]) -> Scale:
    return Scale(mean=float(values.mean()), std=_std(values))


def _std(values: NDArray[np.float64]) -> float:
    """A constant series keeps a unit scale rather than dividing by zero."""
    std = float(values.std())
    return std if std > 1e-12 else 1.0


def pairs(spec: Preprocessing, splits: list[SeriesSplit], steps: int) -> tuple[Pairs, Pairs]:
    """Next-step pairs of ``steps`` inputs: for fitting, from the fitting parts; for
    validation, windows whose last target lies in the validation period. Fitting windows are
    thinned to MAX_WINDOWS by a stride, the same in every series."""
    lag = spec.seasonal or spec.difference
    encoded = [
        SeriesTransform(spec, [s.id]).encode(s.training_part[np.newaxis])[0, :, 0] for s in splits
    ]
    available = sum(max(0, s.validation_start - lag - steps) for s in splits)
    stride = max(1, math.ceil(available / MAX_WINDOWS))
    fitting, validation = [], []
    for s, values in zip(splits, encoded, strict=True):
        # Encoded index i is raw index i + lag.
        first_validation = s.validation_start - lag
        fitting.append(_next_step(values[:first_validation], steps)[::stride])
        windows = _next_step(values, steps)
        validation.append(windows[np.arange(len(windows)) + steps >= first_validation])
    return _as_pairs(np.concatenate(fitting)), _as_pairs(np.concatenate(validation))


def _next_step(values: NDArray[np.floating], steps: int) -> NDArray[np.floating]:
    """Row i is values[i : i + steps + 1]: steps inputs, each followed by its target."""
    if len(values) < steps + 1:
        return np.empty((0, steps + 1), values.dtype)
    return np.lib.stride_tricks.sliding_window_view(values, steps + 1)


def _as_pairs(windows: NDArray[np.floating]) -> Pairs:
    inputs = np.ascontiguousarray(windows[:, :-1, np.newaxis], dtype=np.float32)
    targets = np.ascontiguousarray(windows[:, 1:, np.newaxis], dtype=np.float32)
    return inputs, targets
