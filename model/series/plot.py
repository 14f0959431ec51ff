"""The PNG ``rnn-serve train`` writes: per series (the first four), its test period against
the one-step rolling forecasts and a forecast of the whole horizon, with their intervals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rnn_serve.contract.intervals import Intervals
from rnn_serve.contract.manifest import Preprocessing
from rnn_serve.contract.preprocessing import SeriesTransform
from rnn_serve.model.series.evaluate import origins
from rnn_serve.model.series.split import SeriesSplit

PANELS = 4
CONTEXT = 2  # periods of history shown before the test period, in test periods


def plot(
    path: Path,
    splits: list[SeriesSplit],
    forecasts: dict[str, np.ndarray],
    spec: Preprocessing,
    intervals: Intervals,
    freq: str | None,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = splits[:PANELS]
    figure, axes = plt.subplots(len(shown), 1, figsize=(10, 3.2 * len(shown)), squeeze=False)
    level = max(level for level in intervals.levels if level <= 95)
    for axis, s in zip(axes[:, 0], shown, strict=True):
        _panel(axis, s, forecasts[s.id], SeriesTransform(spec, [s.id]), intervals, level, freq)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=80, metadata={"Software": None})  # no version: same bytes
    plt.close(figure)


def _panel(
    axis: Any,
    s: SeriesSplit,
    predicted: np.ndarray,
    transform: SeriesTransform,
    intervals: Intervals,
    level: int,
    freq: str | None,
) -> None:
    test = len(s.values) - s.test_start
    first = max(0, s.test_start - CONTEXT * test)
    times = _times(s, freq)
    axis.plot(times[first:], s.values[first:], color="black", linewidth=1.5, label="actual")
    at = origins(s.test_start, len(s.values))
    one_step = predicted[:, :1]
    lower, upper = intervals.bounds(one_step, level, transform.std, transform.log)
    axis.plot(times[at + 1], one_step[:, 0], color="tab:blue", linewidth=1, label="1 step ahead")
    axis.fill_between(times[at + 1], lower[:, 0], upper[:, 0], color="tab:blue", alpha=0.2)
    horizon = min(predicted.shape[1], intervals.horizon, test)
    whole = predicted[:1, :horizon]
    lower, upper = intervals.bounds(whole, level, transform.std, transform.log)
    steps = times[at[0] + 1 : at[0] + 1 + horizon]
    axis.plot(steps, whole[0], color="tab:orange", linewidth=1.5, label=f"{horizon} steps ahead")
    axis.fill_between(steps, lower[0], upper[0], color="tab:orange", alpha=0.25)
    axis.axvline(times[s.test_start], color="grey", linestyle=":", linewidth=1)
    axis.set_title(f"{s.id}: test period, forecasts with {level}% intervals")
    axis.legend(loc="upper left", fontsize=8)


def _times(s: SeriesSplit, freq: str | None) -> np.ndarray:
    if s.series.start is None or freq is None:
        return np.arange(len(s.values))
    return pd.date_range(s.series.start, periods=len(s.values), freq=freq).to_numpy()
