"""The choice of preprocessing, window, cell and hidden size, by rolling-origin validation.

A greedy search in stages: first the preprocessing (with a default window, cell and size),
then the window, the cell and the hidden size, each stage keeping the best so far. The time
budget becomes a plan (how many stages, how many epochs at most, the backtest folds priced in)
before anything trains, from a cost model measured once on a 2-core machine that counts what
the command spends besides training too, never from the clock: the same command on the same
data writes the same files on any machine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import torch
from numpy.typing import NDArray

from rnn_serve.contract.forecast import RunFn
from rnn_serve.contract.manifest import Preprocessing
from rnn_serve.model.network import RecurrentNet
from rnn_serve.model.series import encoding
from rnn_serve.model.series.encoding import Kind
from rnn_serve.model.series.evaluate import Forecaster, errors, mase_scale, network, origins
from rnn_serve.model.series.split import SeriesSplit
from rnn_serve.model.train import TrainConfig, train

Cell = Literal["rnn", "gru", "lstm"]
CELLS: tuple[Cell, ...] = ("rnn", "gru", "lstm")
HIDDEN = (16, 32, 64)
DEFAULT_CELL: Cell = "rnn"
DEFAULT_HIDDEN = 32
STAGES = ("preprocessing", "window", "cell", "hidden")
# (stages, most epochs) from the most thorough down: the first whose estimate fits the budget.
PLANS = ((4, 150), (4, 80), (3, 80), (2, 80), (1, 80), (1, 40), (1, 20))
# Seconds per window step of one training pass (forward, backward, Adam), batch 64, on 2 cores
# (torch 2.13 CPU); an epoch also runs the validation windows forward (about a third of that).
SECONDS_PER_STEP = {
    "rnn": {16: 2.1e-6, 32: 2.3e-6, 64: 2.5e-6},
    "gru": {16: 4.1e-6, 32: 6.7e-6, 64: 7.8e-6},
    "lstm": {16: 1.6e-6, 32: 2.6e-6, 64: 4.3e-6},
}
EXPECTED_SHARE = 0.7  # of the most epochs: early stopping ends many runs before it
# What the budget pays besides the epochs, on the same machine: the command's start (Python,
# torch, statsmodels), the export, the plot (FIXED_S); building each network and forecasting
# its validation origins (PER_FIT_S); Holt-Winters re-filtered at each test origin of each
# series for the scores (PER_TEST_ORIGIN_S).
FIXED_S = 3.0
PER_FIT_S = 0.1
PER_TEST_ORIGIN_S = 0.0065
# Backtest folds the chosen network trains again on, to calibrate the intervals (split.py);
# the plan prices each as an average candidate.
BACKTEST_FOLDS = 4


@dataclass(frozen=True)
class Candidate:
    kind: Kind
    steps: int  # model inputs a window holds (the window reads lag more raw values)
    cell: Cell = DEFAULT_CELL
    hidden: int = DEFAULT_HIDDEN

    @property
    def window(self) -> int:
        return self.steps + self.kind.lag

    def label(self) -> str:
        return f"{self.kind.label()}, window {self.window}, {self.cell} {self.hidden}"


@dataclass(frozen=True)
class Trial:
    candidate: Candidate
    spec: Preprocessing
    net: RecurrentNet
    epochs: int  # that ran
    best_epoch: int  # whose network early stopping kept
    score: float  # mean validation MASE over series and horizon steps


@dataclass(frozen=True)
class Plan:
    stages: int
    epochs: int
    expected_s: float
    steps: list[int]
    kinds: list[Kind]

    def candidates(self) -> int:
        per_stage = [len(self.kinds), len(self.steps) - 1, len(CELLS) - 1, len(HIDDEN) - 1]
        return sum(per_stage[: self.stages])

    def fits(self) -> int:
        """Networks trained: the candidates and the backtest folds (or, where no fold fits,
        the served network trained again)."""
        return self.candidates() + BACKTEST_FOLDS


def window_steps(season: int, splits: list[SeriesSplit]) -> list[int]:
    """One, two and four seasons (or 8, 16, 32 steps without one), where the shortest fitting
    part still holds a few windows of them."""
    base = max(season, 8)
    shortest = min(s.validation_start for s in splits)
    fitting = [base * k for k in (1, 2, 4) if base * k + max(season, 1) <= shortest // 2]
    return fitting or [min(base, max(2, shortest // 4))]


def least_fit(season: int) -> int:
    """The shortest fitting part a series may have: windows of the smallest size, twice."""
    return 2 * (max(season, 8) + max(season, 1)) + 1


def plan(splits: list[SeriesSplit], season: int, budget_s: float, kinds: list[Kind]) -> Plan:
    steps = window_steps(season, splits)
    windows = min(sum(s.validation_start for s in splits), encoding.MAX_WINDOWS)
    validation = sum(s.test_start - s.validation_start for s in splits)

    def epoch_s(cell: Cell, hidden: int, length: int) -> float:
        return SECONDS_PER_STEP[cell][hidden] * length * (windows + validation / 3)

    middle = steps[len(steps) // 2]
    per_stage = [
        sum(epoch_s(DEFAULT_CELL, DEFAULT_HIDDEN, middle) for _ in kinds),
        sum(epoch_s(DEFAULT_CELL, DEFAULT_HIDDEN, n) for n in steps if n != middle),
        sum(epoch_s(c, DEFAULT_HIDDEN, max(steps)) for c in CELLS if c != DEFAULT_CELL),
        # The hidden stage varies the cell chosen before it: priced as the dearest, the GRU.
        sum(epoch_s("gru", h, max(steps)) for h in HIDDEN if h != DEFAULT_HIDDEN),
    ]
    overhead = FIXED_S + PER_TEST_ORIGIN_S * sum(len(s.values) - s.test_start for s in splits)
    found = None
    for stages, epochs in PLANS:
        found = Plan(stages, epochs, 0.0, steps, kinds)
        epoch_all_s = sum(per_stage[:stages]) * found.fits() / found.candidates()
        expected = overhead + found.fits() * PER_FIT_S + epoch_all_s * epochs * EXPECTED_SHARE
        found = replace(found, expected_s=round(expected, 1))
        if expected <= budget_s:
            break
    assert found is not None
    return found


Report = Callable[[str, int, float | None], None]  # (what trains, epoch, loss or None)


def search(
    splits: list[SeriesSplit], plan: Plan, horizon: int, season: int, seed: int, report: Report
) -> tuple[Trial, list[Trial]]:
    """The best trial, and every trial in the order they ran."""
    trials: list[Trial] = []

    def run_all(candidates: list[Candidate]) -> Trial:
        for candidate in candidates:
            trials.append(_trial(candidate, splits, plan.epochs, horizon, season, seed, report))
        return min(trials, key=lambda t: t.score)

    best = run_all([Candidate(kind, plan.steps[len(plan.steps) // 2]) for kind in plan.kinds])
    stages: list[Callable[[Candidate], list[Candidate]]] = [
        lambda c: [replace(c, steps=n) for n in plan.steps if n != c.steps],
        lambda c: [replace(c, cell=cell) for cell in CELLS if cell != c.cell],
        lambda c: [replace(c, hidden=h) for h in HIDDEN if h != c.hidden],
    ]
    for variations in stages[: plan.stages - 1]:
        best = run_all(variations(best.candidate))
    return best, trials


def _trial(
    candidate: Candidate,
    splits: list[SeriesSplit],
    epochs: int,
    horizon: int,
    season: int,
    seed: int,
    report: Report,
) -> Trial:
    spec, net, curve = fit(candidate, splits, epochs, seed, candidate.label(), report)
    score = validation_mase(
        splits, network(torch_run(net), spec, candidate.window), horizon, season
    )
    report(candidate.label(), len(curve), None)
    return Trial(candidate, spec, net, len(curve), int(np.argmin(curve)) + 1, round(score, 6))


def fit(
    candidate: Candidate,
    splits: list[SeriesSplit],
    epochs: int,
    seed: int,
    label: str,
    report: Report,
) -> tuple[Preprocessing, RecurrentNet, list[float]]:
    """A candidate trained on the fitting parts, early-stopped on the validation parts: its
    preprocessing, network and validation curve (a loss per epoch that ran)."""
    spec = encoding.fit(candidate.kind, splits)
    fitting, validation = encoding.pairs(spec, splits, candidate.steps)
    config = TrainConfig(
        hidden_size=candidate.hidden,
        cell=candidate.cell,
        epochs=epochs,
        patience=max(20, epochs // 4),
        seed=seed,
    )
    net, curve = train(config, fitting, validation, lambda epoch, loss: report(label, epoch, loss))
    return spec, net, curve


def refit(best: Trial, splits: list[SeriesSplit], seed: int, report: Report) -> RecurrentNet:
    """The chosen trial trained again, with its preprocessing, on everything before the test
    period (fitting and validation parts), for the epochs early stopping kept."""
    whole = [replace(s, validation_start=s.test_start) for s in splits]
    fitting, _ = encoding.pairs(best.spec, whole, best.candidate.steps)
    config = TrainConfig(
        hidden_size=best.candidate.hidden,
        cell=best.candidate.cell,
        epochs=best.best_epoch,
        seed=seed,
    )
    label = f"served network, {best.candidate.label()}"
    net, _ = train(config, fitting, None, lambda epoch, loss: report(label, epoch, loss))
    report(label, best.best_epoch, None)
    return net


def validation_mase(
    splits: list[SeriesSplit],
    forecaster: Forecaster,
    horizon: int,
    season: int,
) -> float:
    """Mean over series of the MASE of rolling forecasts from the validation period's origins,
    over every horizon step."""
    scores = []
    for s in splits:
        at = origins(s.validation_start, s.test_start)
        found = errors(s, at, forecaster(s, at, horizon), s.test_start)
        scores.append(float(np.nanmean(found)) / mase_scale(s, season))
    return float(np.mean(scores))


def torch_run(net: RecurrentNet) -> RunFn:
    """The network in PyTorch as the forecasts call it (no export per candidate)."""

    def run(
        inputs: NDArray[np.float32], state: NDArray[np.float32] | None
    ) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        start = net.zero_state(len(inputs)) if state is None else torch.from_numpy(state)
        with torch.no_grad():
            outputs, final = net(torch.from_numpy(inputs), start)
        return outputs.numpy(), final.numpy()

    return run
