"""Forecast quality, in one run: `rnn-serve train` at its default budget against seasonal naive,
statsforecast's AutoETS and AutoARIMA, and neuralforecast's LSTM and RNN, on the 24 series of
bench/forecast_data.py, each method with the same split and horizon and forecasting from every
test-period origin (ours through a real server's API). docs/forecasting.md says how, and
carries the results this writes between its markers, with docs/forecasting.png. `make
bench-forecast` runs it in a virtual environment of its own (.venv-forecast).

    python -m bench.forecast                      # 10-25 minutes on 2 cores
    python -m bench.forecast --tasks nile danish --budget-s 20 --out /tmp/f.md
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from bench.forecast_data import Task, tasks
from bench.load import ROOT, server
from rnn_serve.model.series.train import DEFAULT_BUDGET_S, DEFAULT_HORIZON, season_of

PORT = 18790
LEVELS = (80, 95)
METHODS = ("seasonal naive", "AutoETS", "AutoARIMA", "LSTM", "RNN", "rnn-serve")
BUDGET_SLACK = 1.25  # the most wall time `rnn-serve train` may take, as a multiple of the budget
HISTORY = 300  # values sent per forecast request: more than any window the search picks
BEGIN = "<!-- bench-forecast: begin (written by python -m bench.forecast) -->"
END = "<!-- bench-forecast: end -->"


@dataclass
class Series:
    task: str
    id: str
    values: NDArray[np.float64]
    season: int
    horizon: int
    test: int
    forecasts: dict[str, NDArray[np.float64]] = field(default_factory=dict)  # (origins, h)
    bounds: dict[tuple[str, int], tuple[NDArray, NDArray]] = field(default_factory=dict)

    @property
    def test_start(self) -> int:
        return len(self.values) - self.test

    @property
    def origins(self) -> NDArray[np.int64]:
        """Each origin (the last value read) whose whole horizon lies in the test period."""
        return np.arange(self.test_start - 1, len(self.values) - self.horizon)

    @property
    def actual(self) -> NDArray[np.float64]:
        steps = self.origins[:, np.newaxis] + np.arange(1, self.horizon + 1)
        return self.values[steps]

    def mase(self, method: str, step: int) -> float:
        before = self.values[: self.test_start]
        scale = np.mean(np.abs(before[self.season :] - before[: -self.season]))
        errors = np.abs(self.actual - self.forecasts[method])[:, step - 1]
        return float(errors.mean() / scale)

    def coverage(self, method: str, level: int) -> float | None:
        if (method, level) not in self.bounds:
            return None
        lower, upper = self.bounds[method, level]
        return float(((lower <= self.actual) & (self.actual <= upper)).mean())


def horizon_of(season: int) -> int:
    return season if season > 1 else DEFAULT_HORIZON


def split_task(task: Task) -> list[Series]:
    season = season_of(task.freq)
    horizon = horizon_of(season)
    grouped = task.frame.groupby("id", sort=False)["value"]
    shortest = int(grouped.size().min())
    test = max(2 * horizon, math.ceil(0.1 * shortest))
    return [
        Series(task.name, str(name), values.to_numpy(np.float64), max(season, 1), horizon, test)
        for name, values in grouped
    ]


def train_ours(task: Task, data: Path, models: Path, budget_s: float) -> float:
    command = [str(Path(sys.executable).parent / "rnn-serve"), "train", str(data)]
    command += ["--name", task.name, "--value-column", "value", "--time-column", "date"]
    command += ["--out", str(models)]
    if task.frame["id"].nunique() > 1:
        command += ["--id-column", "id"]
    started = time.perf_counter()
    subprocess.run([*command, "--budget-s", str(budget_s)], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def forecast_ours(url: str, series: Series) -> None:
    rows = [series.values[max(0, o + 1 - HISTORY) : o + 1].tolist() for o in series.origins]
    body = {"series": rows, "ids": [series.id] * len(rows), "horizon": series.horizon}
    answer = httpx.post(
        f"{url}/v1/models/{series.task}/forecast", json=body | {"levels": list(LEVELS)}, timeout=60
    )
    answer.raise_for_status()
    found = answer.json()
    series.forecasts["rnn-serve"] = np.array(found["forecasts"])
    for level in LEVELS:
        interval = found["intervals"][str(level)]
        bounds = (np.array(interval["lower"]), np.array(interval["upper"]))
        series.bounds["rnn-serve", level] = bounds


def seasonal_naive(series: Series) -> None:
    steps = np.arange(1, series.horizon + 1)
    back = series.season * np.ceil(steps / series.season).astype(np.int64)
    series.forecasts["seasonal naive"] = series.values[series.origins[:, np.newaxis] + steps - back]


def long_frame(task: Task) -> pd.DataFrame:
    return task.frame.rename(columns={"id": "unique_id", "date": "ds", "value": "y"})


def windows(series: list[Series]) -> int:
    return series[0].test - series[0].horizon + 1


def take(found: pd.DataFrame, group: list[Series], methods: list[str], levels: bool) -> None:
    """Cross-validation output (a row per id, cutoff, date) into each series' arrays."""
    for s in group:
        rows = found[found["unique_id"] == s.id].sort_values(["cutoff", "ds"])
        shape = (windows(group), s.horizon)
        for method in methods:
            s.forecasts[method] = rows[method].to_numpy(np.float64).reshape(shape)
            for level in LEVELS if levels else ():
                lower = rows[f"{method}-lo-{level}"].to_numpy(np.float64).reshape(shape)
                upper = rows[f"{method}-hi-{level}"].to_numpy(np.float64).reshape(shape)
                s.bounds[method, level] = (lower, upper)


def statistical(task: Task, group: list[Series]) -> float:
    from statsforecast import StatsForecast
    from statsforecast.models import AutoARIMA, AutoETS

    season = group[0].season
    models = [AutoETS(season_length=season), AutoARIMA(season_length=season)]
    started = time.perf_counter()
    found = StatsForecast(models=models, freq=task.freq, n_jobs=1).cross_validation(
        h=group[0].horizon,
        df=long_frame(task),
        n_windows=windows(group),
        step_size=1,
        refit=False,
        level=list(LEVELS),
    )
    take(found.reset_index(), group, ["AutoETS", "AutoARIMA"], levels=True)
    return time.perf_counter() - started


def neural(task: Task, group: list[Series], seconds: float) -> float:
    from neuralforecast import NeuralForecast
    from neuralforecast.models import LSTM, RNN

    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning_fabric").setLevel(logging.ERROR)
    horizon, season = group[0].horizon, group[0].season
    shortest = min(s.test_start for s in group)
    settings = {
        "h": horizon,
        "input_size": min(2 * max(season, 8), shortest - 2 * horizon),
        "max_steps": 2000,
        "early_stop_patience_steps": 5,
        "val_check_steps": 25,
        "scaler_type": "standard",
        "start_padding_enabled": True,
        "random_seed": 1,
        "accelerator": "cpu",
        "max_time": {"seconds": max(seconds, 1.0)},
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "logger": False,
    }
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found = NeuralForecast(
            models=[LSTM(**settings), RNN(**settings)], freq=task.freq
        ).cross_validation(
            df=long_frame(task),
            n_windows=windows(group),
            step_size=1,
            val_size=horizon,
            refit=False,
        )
    take(found.reset_index(), group, ["LSTM", "RNN"], levels=False)
    return time.perf_counter() - started


def report(series: list[Series], walls: dict[str, dict[str, float]], budget_s: float) -> str:
    def cells(s: Series, step: int) -> str:
        return " | ".join(f"{s.mase(m, step):.3f}" for m in METHODS)

    def covered(s: Series, method: str) -> str:
        shares = [s.coverage(method, level) for level in LEVELS]
        return " / ".join("-" if c is None else f"{c:.0%}" for c in shares)

    names = " | ".join(METHODS)
    head = f"| series | freq, length, test | {names} |"
    rule = "| --- | --- |" + " ---: |" * len(METHODS)
    by_step = {}
    for label, step in (("1", lambda s: 1), ("H", lambda s: s.horizon)):
        by_step[label] = [
            f"| {s.task}/{s.id} | {s.season}, {len(s.values)}, {s.test} | {cells(s, step(s))} |"
            for s in series
        ]
    coverage = [
        f"| {s.task}/{s.id} | {s.test} | "
        + " | ".join(covered(s, m) for m in ("rnn-serve", "AutoETS", "AutoARIMA"))
        + " |"
        for s in series
    ]
    timing = [
        f"| {task} | " + " | ".join(f"{walls[task][m]:.1f}" for m in walls[task]) + " |"
        for task in walls
    ]
    last = {m: np.array([s.mase(m, s.horizon) for s in series]) for m in METHODS}
    first = {m: np.array([s.mase(m, 1) for s in series]) for m in METHODS}
    ours = last["rnn-serve"]
    worse = [
        f"{s.task}/{s.id} ({o:.3f} against {n:.3f})"
        for s, o, n in zip(series, ours, last["seasonal naive"], strict=True)
        if o > n
    ]
    long_enough = [s for s in series if s.test >= 30]
    outside = [
        f"{s.task}/{s.id} ({covered(s, 'rnn-serve')})"
        for s in long_enough
        if not (0.70 <= s.coverage("rnn-serve", 80) <= 0.90)  # type: ignore[operator]
        or not (0.88 <= s.coverage("rnn-serve", 95) <= 0.99)  # type: ignore[operator]
    ]
    total = {m: sum(w.get(m, 0.0) for w in walls.values()) for m in next(iter(walls.values()))}
    trained = {task: w["rnn-serve train"] for task, w in walls.items()}
    over = [f"{task} ({t:.0f} s)" for task, t in trained.items() if t > BUDGET_SLACK * budget_s]
    lines = [
        f"{len(series)} series in {len(walls)} files (bench/forecast_data.py), "
        f"`rnn-serve train --budget-s {budget_s:g}`; MASE at the last horizon step (H):",
        "",
        head,
        rule,
        *by_step["H"],
        "",
        "MASE one step ahead:",
        "",
        head,
        rule,
        *by_step["1"],
        "",
        "Interval coverage on the test period, 80% / 95%:",
        "",
        "| series | test | rnn-serve | AutoETS | AutoARIMA |",
        "| --- | ---: | ---: | ---: | ---: |",
        *coverage,
        "",
        "Wall time per file (s; neuralforecast's models got rnn-serve train's time each):",
        "",
        "| file | " + " | ".join(next(iter(walls.values()))) + " |",
        "| --- |" + " ---: |" * len(total),
        *timing,
        "| all | " + " | ".join(f"{t:.0f}" for t in total.values()) + " |",
        "",
        "Mean MASE over the series, and rnn-serve's mean ratio to each method:",
        "",
        "| method | mean MASE h=1 | mean MASE h=H | rnn-serve / it, h=1 | rnn-serve / it, h=H |",
        "| --- | ---: | ---: | ---: | ---: |",
        *(
            f"| {m} | {first[m].mean():.3f} | {last[m].mean():.3f} | "
            f"{np.mean(first['rnn-serve'] / first[m]):.3f} | {np.mean(ours / last[m]):.3f} |"
            for m in METHODS
        ),
        "",
        "Against the targets:",
        f"- MASE at h=H at most seasonal naive's: {len(series) - len(worse)} of {len(series)} "
        "series" + (f"; worse on {', '.join(worse)}" if worse else ""),
        f"- mean MASE ratio to AutoETS at h=H: {np.mean(ours / last['AutoETS']):.3f} "
        "(target 0.85 or less)",
        f"- intervals on the {len(long_enough)} series with at least 30 test values: "
        f"{len(long_enough) - len(outside)} inside 70-90% (80%) and 88-99% (95%)"
        + (f"; outside: {', '.join(outside)}" if outside else ""),
        f"- `rnn-serve train` within {BUDGET_SLACK:g}x of the budget: "
        f"{len(trained) - len(over)} of {len(trained)} files, "
        f"the longest {max(trained.values()):.0f} s"
        + (f"; over: {', '.join(over)}" if over else ""),
        f"- against neuralforecast's LSTM, mean ratio at h=H: {np.mean(ours / last['LSTM']):.3f}",
    ]
    return "\n".join(lines) + "\n"


def plot(series: list[Series], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(11, 4.5))
    x = np.arange(len(series))
    markers = {"seasonal naive": "_", "AutoETS": "s", "AutoARIMA": "^", "LSTM": "x", "RNN": "+"}
    for method, marker in markers.items():
        axes.scatter(x, [s.mase(method, s.horizon) for s in series], marker=marker, label=method)
    ours = [s.mase("rnn-serve", s.horizon) for s in series]
    axes.scatter(x, ours, marker="o", s=40, color="black", label="rnn-serve", zorder=3)
    axes.set_yscale("log")
    axes.set_xticks(x, [f"{s.task}/{s.id}" for s in series], rotation=70, fontsize=7)
    axes.set_ylabel("MASE at the last horizon step (log)")
    axes.legend(fontsize=8, ncol=3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget-s", type=float, default=DEFAULT_BUDGET_S)
    parser.add_argument("--tasks", nargs="*", help="files of bench/forecast_data.py; default all")
    parser.add_argument("--no-neural", action="store_true", help="without neuralforecast")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "forecasting.md")
    args = parser.parse_args()
    methods = ["rnn-serve train", "statsforecast (both)", "LSTM + RNN"]
    walls: dict[str, dict[str, float]] = {}
    everything: list[Series] = []
    with tempfile.TemporaryDirectory() as scratch:
        models = Path(scratch) / "models"
        for task in tasks(args.tasks):
            group = split_task(task)
            data = Path(scratch) / f"{task.name}.csv"
            task.frame.to_csv(data, index=False)
            print(f"{task.name}: {len(group)} series, horizon {group[0].horizon}", flush=True)
            ours = train_ours(task, data, models, args.budget_s)
            walls[task.name] = {methods[0]: ours, methods[1]: statistical(task, group)}
            if not args.no_neural:  # neuralforecast's column last, when it ran
                walls[task.name][methods[2]] = neural(task, group, ours)
            else:
                for s in group:
                    s.forecasts["LSTM"] = s.forecasts["RNN"] = np.full_like(s.actual, np.nan)
            for s in group:
                seasonal_naive(s)
            everything += group
            print(f"  {walls[task.name]}", flush=True)
        env = {"RNN_SERVE_MODEL_DIR": str(models), "RNN_SERVE_LOG_LEVEL": "warning"}
        command = [sys.executable, "-m", "rnn_serve.service", "--port", str(PORT)]
        with server(command, PORT, env, "/v2/health/ready", cores="0,1") as running:
            for s in everything:
                forecast_ours(running.url, s)
    text = report(everything, walls, args.budget_s)
    picture = args.out.with_suffix(".png")
    plot(everything, picture)
    command = " ".join(["python -m bench.forecast", *sys.argv[1:]])
    results = (
        f"`{command}` (`make bench-forecast`), one run on {os.cpu_count()} cores:\n\n"
        + text
        + f"\n![MASE at the last horizon step, per series]({picture.name})\n"
    )
    write_between_markers(args.out, results)
    print(text)


def write_between_markers(path: Path, results: str) -> None:
    """The results replace what lies between the page's markers (the prose around them stays);
    a page without them is written whole."""
    page = path.read_text() if path.exists() else f"{BEGIN}\n{END}\n"
    if BEGIN not in page or END not in page:
        page = f"{BEGIN}\n{END}\n"
    head, rest = page.split(BEGIN, 1)
    path.write_text(f"{head}{BEGIN}\n{results}{END}{rest.split(END, 1)[1]}")


if __name__ == "__main__":
    main()
