"""Recursive multi-step forecasting: read the observations once, then feed each prediction back.

``forecast`` reads a window of a raw series from the zero state. ``observe_and_forecast`` is
the same step from any state, which is how a stored sequence continues: only the new
observations run through the network, then the horizon is rolled out.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

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
