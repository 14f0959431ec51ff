"""Recursive multi-step forecasting: read the window once, then feed each prediction back."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from service.inference.preprocessing import SeriesTransform

Array = NDArray[np.float32]
RunFn = Callable[[Array, Array | None], tuple[Array, Array]]


def forecast(
    run: RunFn,
    transform: SeriesTransform,
    window: int,
    series: NDArray[np.floating],
    horizon: int,
) -> NDArray[np.float64]:
    """(n, length >= window) raw series -> (n, horizon) forecasts in the series' units.

    The window goes through the RNN once; every further step is a one-step call that carries
    the hidden state, so a horizon of h costs h - 1 single steps, not h windows.
    """
    inputs = transform.encode(series[:, -window:])
    outputs, state = run(inputs, None)
    step = outputs[:, -1:, :]
    predicted = [step]
    for _ in range(horizon - 1):
        step, state = run(step, state)
        predicted.append(step)
    return transform.decode(series[:, -1], np.concatenate(predicted, axis=1))
