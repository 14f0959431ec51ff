"""``rnn-serve train``: a user's series in, a served forecaster out.

Reads the file, splits every series in time, chooses preprocessing, window, cell and size by
rolling-origin validation within the budget, weighs the network against seasonal naive at each
horizon step (model/series/blend.py), exports the chosen network through the same path as
``rnn-serve convert``, scores what it serves on the held-out test periods against seasonal
naive and Holt-Winters, calibrates its prediction intervals, and writes the manifest and a
plot.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import pandas as pd
import torch

from rnn_serve.contract.forecast import RunFn
from rnn_serve.contract.intervals import DEFAULT_LEVELS
from rnn_serve.contract.manifest import Manifest, Preprocessing, sha256_of
from rnn_serve.model.convert import Target, from_state_dict, save
from rnn_serve.model.convert.write import write_manifest
from rnn_serve.model.series import blend, encoding, evaluate, intervals, search
from rnn_serve.model.series.load import Dataset, load_series
from rnn_serve.model.series.plot import plot
from rnn_serve.model.series.progress import Progress
from rnn_serve.model.series.split import Periods, SeriesSplit, after_folds, backtests, split
from rnn_serve.model.train import TrainConfig

DEFAULT_BUDGET_S = 180.0
DEFAULT_HORIZON = 8  # for series without a season
# A frequency's base (start or end of period dropped) -> its usual season.
SEASONS = {"W": 52, "M": 12, "BM": 12, "Q": 4, "BQ": 4, "D": 7, "B": 5, "H": 24}


@dataclass(frozen=True)
class TrainRequest:
    data: Path
    name: str
    value_column: str
    out: Path
    time_column: str | None = None
    id_column: str | None = None
    freq: str | None = None
    season: int | None = None
    horizon: int | None = None
    levels: tuple[int, ...] = DEFAULT_LEVELS
    budget_s: float = DEFAULT_BUDGET_S
    plot: Path | None = None  # default: OUT/NAME.png
    seed: int = 0
    version: str = "1"
    command: str = ""


@dataclass
class Trained:
    manifest: Manifest
    table: evaluate.Table
    plot: Path
    plan: search.Plan
    choice: blend.Choice
    seconds: float


def season_of(freq: str | None) -> int:
    """The usual season of a pandas frequency: 52 weeks, 12 months, 4 quarters, 7 days, 24
    hours; 1 (none) for years and what it does not know."""
    if freq is None:
        return 1
    code = pd.tseries.frequencies.to_offset(freq).rule_code.split("-")[0].upper()
    return SEASONS.get(code.removesuffix("S").removesuffix("E"), 1)


def train_series(request: TrainRequest, progress_stream: TextIO | None = None) -> Trained:
    started = time.perf_counter()
    dataset = load_series(
        request.data, request.value_column, request.time_column, request.id_column, request.freq
    )
    season = request.season or season_of(dataset.freq)
    horizon = request.horizon or (season if season > 1 else DEFAULT_HORIZON)
    periods = Periods.for_dataset(dataset, horizon)
    splits = split(dataset, periods, search.least_fit(season))
    torch.set_num_threads(TrainConfig.threads)
    plan = search.plan(splits, season, request.budget_s, encoding.kinds(splits, season))
    progress = Progress(plan.fits(), plan.epochs, progress_stream)
    best, trials = search.search(splits, plan, horizon, season, request.seed, progress)
    window = best.candidate.window
    folds = backtests(splits, search.BACKTEST_FOLDS, window + periods.validation)
    progress.total = plan.candidates() + (len(folds) or 1)
    refits = _backtest(folds, best, plan, request, progress)
    # Where no fold fits, the series are too short to leave the validation period out of the
    # served network's training (fertility rates: 16 of 36 values); where folds fit, the
    # blend and the intervals are chosen on networks trained as the searched one was, and it
    # is served.
    served = best.net if folds else search.refit(best, splits, request.seed, progress)
    # Each fold's network forecasts the stretch after its fold, which it neither trained nor
    # stopped early on, as the served network will meet the future: the blend is chosen there
    # (on the validation period where no fold fits), and the intervals hold there too.
    unseen = [
        (stretch, spec, run)
        for stretch, (_, spec, run) in zip(after_folds(splits, folds), refits, strict=True)
    ]
    searched = search.torch_run(best.net)  # trained before the validation period
    choice = blend.choose(
        [blend.Period(after, evaluate.network(run, spec, window)) for after, spec, run in unseen]
        or [blend.Period(splits, evaluate.network(searched, best.spec, window))],
        evaluate.seasonal_naive(season),
        horizon,
        season,
        window,
    )

    target = Target(
        request.name,
        request.out,
        request.version,
        window,
        best.spec,
        request.command,
        _training(request, dataset, season, horizon, periods, plan, best, trials, choice, folds),
    )
    manifest = save(target, from_state_dict(served.state_dict()))
    rnn = evaluate.network(
        evaluate.onnx_run(request.out / manifest.onnx_file), best.spec, window, choice.blend
    )
    forecasters = {
        "rnn": rnn,
        "seasonal_naive": evaluate.seasonal_naive(season),
        "holt_winters": evaluate.ets(season),
    }
    predictions = evaluate.predict(splits, forecasters, horizon)
    table = evaluate.score(splits, predictions, season)

    def part(stretch: list[SeriesSplit], spec: Preprocessing, run: RunFn) -> intervals.Part:
        return intervals.Part(stretch, spec, evaluate.network(run, spec, window, choice.blend))

    found = intervals.calibrate(
        [part(splits, best.spec, searched), *(part(*refit) for refit in refits)],
        [part(*stretch) for stretch in unseen],
        horizon,
        tuple(sorted(request.levels)),
    )
    found = intervals.with_coverage(found, splits, best.spec, predictions["rnn"])
    manifest = manifest.model_copy(
        update={
            "metrics": {"season": season, "horizon": horizon, "test_steps": periods.test, **table},
            "intervals": found,
            "blend": choice.blend,
        }
    )
    write_manifest(request.out, manifest)
    picture = request.plot or request.out / f"{request.name}.png"
    plot(picture, splits, predictions["rnn"], best.spec, found, dataset.freq)
    return Trained(manifest, table, picture, plan, choice, time.perf_counter() - started)


def _backtest(
    folds: list[list[SeriesSplit]],
    best: search.Trial,
    plan: search.Plan,
    request: TrainRequest,
    progress: Progress,
) -> list[tuple[list[SeriesSplit], Preprocessing, RunFn]]:
    """The chosen configuration trained again before each fold and stopped early on it, to
    forecast it and the stretch after it."""
    refits = []
    for k, fold in enumerate(folds, 1):
        label = f"backtest fold {k}/{len(folds)}, {best.candidate.label()}"
        spec, net, curve = search.fit(
            best.candidate, fold, plan.epochs, request.seed, label, progress
        )
        progress(label, len(curve), None)
        refits.append((fold, spec, search.torch_run(net)))
    return refits


def _training(
    request: TrainRequest,
    dataset: Dataset,
    season: int,
    horizon: int,
    periods: Periods,
    plan: search.Plan,
    best: search.Trial,
    trials: list[search.Trial],
    choice: blend.Choice,
    folds: list[list[SeriesSplit]],
) -> dict[str, Any]:
    """What the manifest says of the data and the choice; no times, so that training twice
    writes the same bytes."""
    return {
        "data": {
            "file": request.data.name,
            "sha256": sha256_of(request.data),
            "value_column": request.value_column,
            "time_column": request.time_column,
            "id_column": request.id_column,
            "freq": dataset.freq,
            "freq_inferred": dataset.inferred,
            "series": [
                {
                    "id": s.id,
                    "length": len(s.values),
                    "start": None if s.start is None else s.start.isoformat(),
                    "filled": s.filled,
                    "trimmed": s.trimmed,
                }
                for s in dataset.series
            ],
        },
        "season": season,
        "horizon": horizon,
        "periods": {"validation": periods.validation, "test": periods.test},
        "plan": {
            "budget_s": request.budget_s,
            "stages": list(search.STAGES[: plan.stages]),
            "max_epochs": plan.epochs,
            "expected_s": plan.expected_s,
        },
        "seed": request.seed,
        "search": [
            {"candidate": t.candidate.label(), "epochs": t.epochs, "validation_mase": t.score}
            for t in trials
        ],
        "chosen": {
            "preprocessing": best.candidate.kind.label(),
            "window": best.candidate.window,
            "cell": best.candidate.cell,
            "hidden_size": best.candidate.hidden,
        },
        "served": {
            "trained_on": "fitting" if folds else "fitting and validation",
            "epochs": best.best_epoch,
        },
        "blend": choice.summary(),
    }
