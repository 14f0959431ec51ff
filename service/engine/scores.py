"""Forecasts scored against what happened, while a sequence runs.

Each step of a forecasting model's sequence gives the next ``horizon`` forecasts, and each later
step brings what happened. This replica keeps every forecast it gave a sequence until the
observations it forecast arrive (up to ``MAX_SEQUENCES`` sequences, the least recent going
first), then scores each: its absolute error by horizon step, as MASE too (scaled as the
model's own test metrics are: their MAE over their MASE), and whether each interval level of
the model covered it. A step served by another replica than the one before it is not scored
there. Scores are kept per model version and horizon step over the last ``WINDOW`` values.

Drift: when a level's coverage over its last ``DRIFT_WINDOW`` scored values (every horizon step
together) falls below the level by more than ``DRIFT_MARGIN``, the version is drifting at that
level: a gauge reads 1, a warning is logged, and the model's metadata says so. It clears once
the coverage is back within half the margin.
"""

from __future__ import annotations

import logging
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from rnn_serve.service.metrics import Metrics
from rnn_serve.service.runtime.loader import ServedModel

log = logging.getLogger(__name__)
WINDOW, DRIFT_WINDOW, DRIFT_MIN, DRIFT_MARGIN = 500, 100, 50, 0.15
MAX_SEQUENCES = 10_000


@dataclass
class _Given:
    """A forecast given to a sequence: (rows, horizon), and the observations since."""

    forecasts: NDArray[np.float64]
    std: Any  # the series' scale, for a scaled model's intervals
    log: bool
    seen: int = 0


class _Window:
    """The last ``size`` values and their running sum: a mean without a pass over them, on
    every scored step."""

    __slots__ = ("kept", "total")

    def __init__(self, size: int) -> None:
        self.kept: deque[float] = deque(maxlen=size)
        self.total = 0.0

    def extend(self, values: list[float]) -> None:
        for value in values:
            if len(self.kept) == self.kept.maxlen:
                self.total -= self.kept[0]  # the one the append drops
            self.kept.append(value)
            self.total += value

    def mean(self) -> float:
        return self.total / len(self.kept)

    def __len__(self) -> int:
        return len(self.kept)


@dataclass
class _Version:
    """One model version's scores."""

    scale: float | None  # its test MAE over its test MASE
    errors: dict[int, _Window] = field(default_factory=dict)  # by horizon step
    hits: dict[tuple[int, int], _Window] = field(default_factory=dict)  # (level, step): 1, 0
    recent: dict[int, _Window] = field(default_factory=dict)  # by level, steps pooled
    drifting: set[int] = field(default_factory=set)


class LiveScores:
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self._given: OrderedDict[str, deque[_Given]] = OrderedDict()
        self._versions: dict[tuple[str, str], _Version] = {}

    def observe(
        self,
        model: ServedModel,
        sequence: str,
        observed: NDArray[np.float64] | None,
        forecasts: NDArray[np.float64],
        std: Any,
        log_scale: bool,
    ) -> None:
        """A sequence's step: ``observed`` (rows, k) new values (None at its start) scored
        against the forecasts given for them, then ``forecasts`` kept for the steps to come."""
        given = self._given.pop(sequence, None) if observed is None else self._given.get(sequence)
        if given is None or observed is None:
            given = deque()
        else:
            self._score(model, given, observed)
        given.append(_Given(np.asarray(forecasts, np.float64), std, log_scale))
        self._given[sequence] = given
        self._given.move_to_end(sequence)
        while len(self._given) > MAX_SEQUENCES:
            self._given.popitem(last=False)

    def forget(self, sequence: str) -> None:
        self._given.pop(sequence, None)

    def describe(self, model: ServedModel) -> dict[str, Any] | None:
        """The live scores of a version, beside its test metrics: None before any."""
        version = self._versions.get((model.name, model.version))
        if version is None or not version.errors:
            return None
        steps = sorted(version.errors)
        mae = {h: version.errors[h].mean() for h in steps}
        return {
            "scored": {f"h{h}": len(version.errors[h]) for h in steps},
            "mae": {f"h{h}": round(mae[h], 6) for h in steps},
            "mase": {f"h{h}": round(mae[h] / version.scale, 6) for h in steps}
            if version.scale
            else None,
            "coverage": {
                str(level): {
                    f"h{h}": round(hits.mean(), 4)
                    for (lvl, h), hits in sorted(version.hits.items())
                    if lvl == level
                }
                for level in sorted(version.recent)
            },
            "drift": {
                str(level): {
                    "coverage": round(recent.mean(), 4),
                    "scored": len(recent),
                    "drifting": level in version.drifting,
                }
                for level, recent in sorted(version.recent.items())
            },
        }

    def _score(self, model: ServedModel, given: deque[_Given], observed: NDArray[Any]) -> None:
        version = self._versions.get((model.name, model.version))
        if version is None:
            version = _Version(_scale(model))
            self._versions[(model.name, model.version)] = version
        intervals = model.intervals
        levels = [int(level) for level in intervals.half_widths] if intervals else []
        for forecast in given:
            horizon = forecast.forecasts.shape[1]
            for j in range(observed.shape[1]):
                step = forecast.seen + j  # 0-based horizon step this observation answers
                if step >= horizon:
                    break
                predicted, actual = forecast.forecasts[:, step], observed[:, j]
                errors = np.abs(actual - predicted)
                self._add(version.errors, step + 1, errors.tolist(), WINDOW)
                for level in levels:
                    lower, upper = intervals.bounds(  # type: ignore[union-attr]
                        forecast.forecasts[:, : step + 1], level, forecast.std, forecast.log
                    )
                    covered = (lower[:, step] <= actual) & (actual <= upper[:, step])
                    inside = covered.astype(float).tolist()
                    self._add(version.hits, (level, step + 1), inside, WINDOW)
                    self._add(version.recent, level, inside, DRIFT_WINDOW)
            forecast.seen += observed.shape[1]
        while given and given[0].seen >= given[0].forecasts.shape[1]:
            given.popleft()
        self._export(model, version)

    @staticmethod
    def _add(where: dict[Any, _Window], key: Any, values: list[float], window: int) -> None:
        kept = where.get(key)
        if kept is None:
            kept = where[key] = _Window(window)
        kept.extend(values)

    def _export(self, model: ServedModel, version: _Version) -> None:
        name, number = model.name, model.version
        for h, errors in version.errors.items():
            self.metrics.live_mae.labels(name, number, str(h)).set(errors.mean())
        for level, recent in version.recent.items():
            coverage = recent.mean()
            self.metrics.live_coverage.labels(name, number, str(level)).set(coverage)
            floor = level / 100 - DRIFT_MARGIN
            was = level in version.drifting
            if not was and len(recent) >= DRIFT_MIN and coverage < floor:
                version.drifting.add(level)
                log.warning(
                    "model %s version %s drifts: its %d%% intervals covered %.0f%% of the last "
                    "%d values (below %.0f%%)",
                    name,
                    number,
                    level,
                    100 * coverage,
                    len(recent),
                    100 * floor,
                )
            elif was and coverage >= level / 100 - DRIFT_MARGIN / 2:
                version.drifting.discard(level)
                log.warning(
                    "model %s version %s no longer drifts at %d%%: coverage %.0f%%",
                    name,
                    number,
                    level,
                    100 * coverage,
                )
            drifting = float(level in version.drifting)
            self.metrics.drift.labels(name, number, str(level)).set(drifting)


def _scale(model: ServedModel) -> float | None:
    """The model's test MAE over its test MASE (one scale for every horizon step)."""
    metrics = model.manifest.metrics if model.manifest else {}
    first = metrics.get("h1", {}).get("rnn", {}) if isinstance(metrics, dict) else {}
    mae, mase = first.get("mae"), first.get("mase")
    return float(mae) / float(mase) if mae and mase else None
