"""Rolling-origin forecasts and their scores: the chosen network against seasonal naive and
statsmodels' ETS (Holt-Winters), at every horizon step, on periods none of them trained on."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from rnn_serve.contract.forecast import RunFn, blended, forecast
from rnn_serve.contract.forecast import seasonal_naive as contract_naive
from rnn_serve.contract.manifest import Blend, Preprocessing
from rnn_serve.contract.names import INITIAL_STATE, INPUTS, OUTPUTS, STATE
from rnn_serve.contract.preprocessing import SeriesTransform
from rnn_serve.model.series.split import SeriesSplit

# (series, origins, horizon) -> (origins, horizon) forecasts; an origin is the index of the
# last value the forecast may read.
Forecaster = Callable[[SeriesSplit, NDArray[np.int64], int], NDArray[np.float64]]
# Per method, per series id, the (origins, horizon) forecasts.
Predictions = dict[str, dict[str, NDArray[np.float64]]]
Table = dict[str, dict[str, dict[str, float]]]  # {"h1": {method: {"mae", "mase"}}, ...}


def origins(start: int, end: int) -> NDArray[np.int64]:
    """Every origin whose next value lies in [start, end)."""
    return np.arange(start - 1, end - 1)


def seasonal_naive(season: int) -> Forecaster:
    """The value one season before each target (the last value, without a season)."""
    lag = max(season, 1)

    def naive(split: SeriesSplit, at: NDArray[np.int64], horizon: int) -> NDArray[np.float64]:
        return contract_naive(_windows(split, at, lag), lag, horizon)

    return naive


def ets(season: int) -> Forecaster:
    """Additive trend (and season, when the training part holds two), fitted once per series on
    its training part; each origin re-filters the data up to it with those parameters (no
    refit, no peek at what follows)."""
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    fitted: dict[str, tuple[dict[str, object], dict[str, float], int | None]] = {}

    def model(data: NDArray[np.float64], period: int | None, **known: object) -> object:
        seasonal = "add" if period else None
        return ExponentialSmoothing(
            data, trend="add", seasonal=seasonal, seasonal_periods=period, **known
        )

    def parameters(split: SeriesSplit) -> tuple[dict[str, object], dict[str, float], int | None]:
        if split.id not in fitted:
            part = split.training_part
            period = season if season > 1 and len(part) >= 2 * season else None
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                params = model(part, period, initialization_method="estimated").fit().params  # type: ignore[attr-defined]
            known: dict[str, object] = {
                "initialization_method": "known",
                "initial_level": params["initial_level"],
                "initial_trend": params["initial_trend"],
            }
            names = ["smoothing_level", "smoothing_trend"]
            if period:
                known["initial_seasonal"] = params["initial_seasons"]
                names.append("smoothing_seasonal")
            fitted[split.id] = (known, {n: params[n] for n in names}, period)
        return fitted[split.id]

    def holt_winters(
        split: SeriesSplit, at: NDArray[np.int64], horizon: int
    ) -> NDArray[np.float64]:
        known, smoothing, period = parameters(split)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return np.stack(
                [
                    model(split.values[: o + 1], period, **known)
                    .fit(optimized=False, **smoothing)  # type: ignore[attr-defined]
                    .forecast(horizon)
                    for o in at
                ]
            )

    return holt_winters


def network(run: RunFn, spec: Preprocessing, window: int, blend: Blend | None = None) -> Forecaster:
    """The recurrent model, each series standardised by its own statistics, blended with
    seasonal naive as the server does it."""

    def rnn(split: SeriesSplit, at: NDArray[np.int64], horizon: int) -> NDArray[np.float64]:
        windows = _windows(split, at, window)
        found = forecast(run, SeriesTransform(spec, [split.id]), window, windows, horizon)
        return blended(found, windows, blend, [split.id] * len(at))

    return rnn


def _windows(split: SeriesSplit, at: NDArray[np.int64], length: int) -> NDArray[np.float64]:
    """(origins, length): the values up to each origin."""
    return np.stack([split.values[o - length + 1 : o + 1] for o in at])


def predict(
    splits: list[SeriesSplit], forecasters: dict[str, Forecaster], horizon: int
) -> Predictions:
    """Every method's forecasts from every origin of each series' test period."""
    return {
        name: {s.id: fn(s, origins(s.test_start, len(s.values)), horizon) for s in splits}
        for name, fn in forecasters.items()
    }


Measure = Callable[[NDArray[np.float64], NDArray[np.float64]], NDArray[np.float64]]


def errors(
    split: SeriesSplit,
    at: NDArray[np.int64],
    predicted: NDArray[np.float64],
    end: int,
    measure: Measure = lambda actual, predicted: np.abs(actual - predicted),
) -> NDArray[np.float64]:
    """(origins, horizon) errors, by default |actual - forecast|; NaN where the target lies at
    or after ``end``."""
    targets = at[:, np.newaxis] + np.arange(1, predicted.shape[1] + 1)
    actual = split.values[np.minimum(targets, len(split.values) - 1)]
    return np.where(targets < end, measure(actual, predicted), np.nan)


def mase_scale(split: SeriesSplit, season: int) -> float:
    """The in-sample MAE of seasonal naive one step ahead on the training part: MASE's
    denominator (Hyndman and Koehler, 2006)."""
    part, lag = split.training_part, max(season, 1)
    scale = float(np.mean(np.abs(part[lag:] - part[:-lag])))
    return scale if scale > 0 else 1.0


def score(splits: list[SeriesSplit], predictions: Predictions, season: int) -> Table:
    """MAE and MASE at each horizon step over the test periods: per series, then the mean over
    series (MASE is scale-free, so its mean is the one to compare across series)."""
    horizon = next(iter(next(iter(predictions.values())).values())).shape[1]
    table: Table = {f"h{h}": {} for h in range(1, horizon + 1)}
    for name, per_series in predictions.items():
        maes, mases = [], []
        for s in splits:
            at = origins(s.test_start, len(s.values))
            found = errors(s, at, per_series[s.id], len(s.values))
            mae = np.nanmean(found, axis=0)
            maes.append(mae)
            mases.append(mae / mase_scale(s, season))
        for h in range(horizon):
            table[f"h{h + 1}"][name] = {
                "mae": round(float(np.mean([m[h] for m in maes])), 4),
                "mase": round(float(np.mean([m[h] for m in mases])), 4),
            }
    return table


def markdown_table(table: Table, horizons: list[int] | None = None) -> str:
    """One row per horizon step, MAE and MASE per method."""
    rows = [key for key in table if horizons is None or int(key[1:]) in horizons]
    methods = list(table[rows[0]])
    head = " | ".join(f"{m} MAE | {m} MASE" for m in methods)
    lines = [f"| h | {head} |", "| ---: |" + " ---: | ---: |" * len(methods)]
    for key in rows:
        cells = " | ".join(
            f"{table[key][m]['mae']:.3f} | {table[key][m]['mase']:.3f}" for m in methods
        )
        lines.append(f"| {key[1:]} | {cells} |")
    return "\n".join(lines)


def onnx_run(path: Path) -> RunFn:
    """An exported graph as the forecasts call it: (inputs, state or None for zeros)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    state_size = session.get_inputs()[1].shape[1]

    def run(inputs: NDArray[np.float32], state: NDArray[np.float32] | None) -> tuple:
        if state is None:
            state = np.zeros((len(inputs), state_size), np.float32)
        outputs, final = session.run([OUTPUTS, STATE], {INPUTS: inputs, INITIAL_STATE: state})
        return outputs, final

    return run
