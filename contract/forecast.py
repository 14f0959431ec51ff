"""Recursive multi-step forecasting: read the observations once, then feed each prediction back.

``forecast`` reads a window of a raw series from the zero state. ``observe_and_forecast`` is
the same step from any state, which is how a stored sequence continues: only the new
observations run through the network, then the horizon is rolled out. ``blended`` mixes the
network's forecasts with seasonal naive's at the weights a manifest's ``blend`` gives.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray

from rnn_serve.contract.manifest import Blend
from rnn_serve.contract.preprocessing import SeriesTransform

Array = NDArray[np.float32]
RunFn = Callable[[Array, Array | None], tuple[Array, Array]]


def forecast(
    run: RunFn,
    transform: SeriesTransform,
    window: int,
    series: NDArray[np.floating],
    horizon: int,
) -> NDArray[np.float64]:
    """(n, length >= window) raw series -> (n, horizon) forecasts in the series' units."""
    forecasts, _ = observe_and_forecast(run, transform, series[:, -window:], None, horizon)
    return forecasts


def observe_and_forecast(
    run: RunFn,
    transform: SeriesTransform,
    history: NDArray[np.floating],
    state: Array | None,
    horizon: int,
) -> tuple[NDArray[np.float64], Array]:
    """Runs the inputs that ``history`` encodes to (its first ``lag`` values only seed the
    differencing) from ``state``, and returns the forecasts and the state after the last
    observation. A horizon of h costs h - 1 single steps, not h windows."""
    outputs, state = run(transform.encode(history), state)
    step, rolled = outputs[:, -1:, :], state
    predicted = [step]
    for _ in range(horizon - 1):
        step, rolled = run(step, rolled)
        predicted.append(step)
    return transform.decode(history, np.concatenate(predicted, axis=1)), state


def seasonal_naive(recent: NDArray[np.floating], season: int, horizon: int) -> NDArray[np.float64]:
    """(n, at least season) raw values -> (n, horizon): each step the value one season (or a
    whole number of seasons) before it."""
    steps = np.arange(1, horizon + 1)
    back = season * np.ceil(steps / season).astype(np.int64)
    return np.asarray(recent, np.float64)[:, recent.shape[1] - 1 + steps - back]


def blended(
    forecasts: NDArray[np.float64],
    recent: NDArray[np.floating],
    blend: Blend | None,
    ids: Sequence[str | None] | None = None,
) -> NDArray[np.float64]:
    """``forecasts`` (n, h) mixed with seasonal naive's from ``recent`` (n, at least the
    season: the raw values up to the origin) at the blend's weights, each row at those of its
    series id when given."""
    if blend is None:
        return forecasts
    horizon = forecasts.shape[1]
    rows = blend.for_rows(ids, len(forecasts))
    weights = np.array([(w + w[-1:] * horizon)[:horizon] for w in rows])
    naive = seasonal_naive(recent, blend.season, horizon)
    return np.ascontiguousarray(weights * forecasts + (1 - weights) * naive)
