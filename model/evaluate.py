"""Rolling-origin evaluation on the test period against seasonal-naive and Holt-Winters."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from model.data import SEASON, Split

HORIZONS = (1, 12)
Forecaster = Callable[[NDArray[np.float64], NDArray[np.int64], int], NDArray[np.float64]]


def origins(split: Split) -> NDArray[np.int64]:
    """Every last-observed index whose next step lies in the test period."""
    return np.arange(split.test_start - 1, len(split.values) - 1)


def seasonal_naive(values: NDArray[np.float64], at: NDArray[np.int64], horizon: int) -> NDArray:
    steps = np.arange(1, horizon + 1)
    return values[at[:, np.newaxis] + steps - SEASON]


def holt_winters(training_part: NDArray[np.float64]) -> Forecaster:
    """Additive trend and season, fitted once on the training part; each origin re-filters the
    data up to it with those fitted parameters (no refit, no peeking at the test period)."""
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    def model(data: NDArray[np.float64], **known: object) -> ExponentialSmoothing:
        return ExponentialSmoothing(
            data, trend="add", seasonal="add", seasonal_periods=SEASON, **known
        )

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = model(training_part, initialization_method="estimated").fit()
    params = fitted.params
    known = {
        "initialization_method": "known",
        "initial_level": params["initial_level"],
        "initial_trend": params["initial_trend"],
        "initial_seasonal": params["initial_seasons"],
    }
    smoothing = {
        key: params[key] for key in ("smoothing_level", "smoothing_trend", "smoothing_seasonal")
    }

    def forecast(values: NDArray[np.float64], at: NDArray[np.int64], horizon: int) -> NDArray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return np.stack(
                [
                    model(values[: o + 1], **known)
                    .fit(optimized=False, **smoothing)
                    .forecast(horizon)
                    for o in at
                ]
            )

    return forecast


Predictions = dict[str, NDArray[np.float64]]


def rolling_forecasts(split: Split, forecasters: dict[str, Forecaster]) -> Predictions:
    """Each method's forecasts, up to the longest horizon, from every origin (computed once,
    for the metrics and the plot)."""
    return {
        name: fn(split.values, origins(split), max(HORIZONS)) for name, fn in forecasters.items()
    }


def score(split: Split, predictions: Predictions) -> dict[str, dict[str, dict[str, float]]]:
    """{"h1": {method: {"mae", "mase"}}, "h12": ...}. MASE divides by the in-sample MAE of
    the seasonal-naive forecast on the training part, the usual scale for seasonal data."""
    values, at = split.values, origins(split)
    train = split.training_part
    scale = float(np.mean(np.abs(train[SEASON:] - train[:-SEASON])))
    table: dict[str, dict[str, dict[str, float]]] = {}
    for h in HORIZONS:
        valid = at + h < len(values)
        actual = values[at[valid] + h]
        table[f"h{h}"] = {}
        for name, predicted in predictions.items():
            mae = float(np.mean(np.abs(predicted[valid, h - 1] - actual)))
            table[f"h{h}"][name] = {"mae": round(mae, 4), "mase": round(mae / scale, 4)}
    return table


def markdown_table(metrics: dict[str, dict[str, dict[str, float]]]) -> str:
    methods = list(next(iter(metrics.values())))
    lines = [
        "| method | MAE h=1 | MASE h=1 | MAE h=12 | MASE h=12 |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name in methods:
        cells = [f"{metrics[h][name]['mae']:.3f} | {metrics[h][name]['mase']:.3f}" for h in metrics]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
