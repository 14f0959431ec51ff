"""The cost model: two timed runs recover a model's per-step and per-row-step times."""

from __future__ import annotations

import pytest

from rnn_serve.service.runtime import cost
from rnn_serve.service.runtime.cost import CostModel
from rnn_serve.service.runtime.loader import load_models
from tests.support.models import ARTIFACTS


class FakeRun:
    """A graph that takes exactly ``steps * (per_step + rows * per_row_step)`` on a fake clock."""

    def __init__(self, per_step: float, per_row_step: float) -> None:
        self.now = 0.0
        self.per_step, self.per_row_step = per_step, per_row_step

    def __call__(self, inputs) -> None:
        rows, steps = inputs.shape[:2]
        self.now += steps * (self.per_step + rows * self.per_row_step)


def test_two_runs_recover_both_costs(monkeypatch):
    run = FakeRun(per_step=2e-6, per_row_step=1e-7)
    monkeypatch.setattr(cost.time, "perf_counter", lambda: run.now)
    model = CostModel.measure(run, features=1)
    assert model.seconds_per_step == pytest.approx(2e-6)
    assert model.seconds_per_row_step == pytest.approx(1e-7)
    assert model.seconds(rows=64, steps=48) == pytest.approx(48 * (2e-6 + 64e-7))


def test_measured_on_a_real_model_it_grows_with_rows_and_steps():
    predictor = load_models(ARTIFACTS, ["CPUExecutionProvider"], threads=1)["co2"].predictor
    assert predictor.cost is None  # until warmed up
    predictor.warm_up()
    estimate = predictor.cost
    assert estimate is not None
    # Rows may measure as free on a noisy machine (a 16-row run as fast as a 1-row one: the
    # fit clamps at zero, as one run of the suite did); steps never do.
    assert 0 < estimate.seconds(1, 48) <= estimate.seconds(64, 48) < estimate.seconds(64, 480)


class SharedClock:
    """Two fake graphs on one clock: ``fixed`` seconds a call plus ``per_row`` per row."""

    def __init__(self) -> None:
        self.now = 0.0

    def graph(self, fixed: float, per_row: float):
        def run(inputs) -> None:
            self.now += fixed + len(inputs) * per_row

        return run


@pytest.mark.parametrize(
    ("loop_fixed", "expected"),
    [(0.0, 2), (5e-5, 4), (3e-4, 16), (1e-2, None)],
    ids=["always-faster", "from-4", "from-16", "never"],
)
def test_the_batched_graph_runs_from_the_measured_crossover(monkeypatch, loop_fixed, expected):
    """The operator graph costs 1e-5 + 2e-5 a row, the loop 1e-6 a row plus a fixed cost."""
    clock = SharedClock()
    monkeypatch.setattr(cost.time, "perf_counter", lambda: clock.now)
    operator, loop = clock.graph(1e-5, 2e-5), clock.graph(loop_fixed, 1e-6)
    assert cost.crossover(operator, loop, features=1) == expected


def test_long_calls_run_the_batched_graph_from_fewer_rows(monkeypatch):
    """A graph with a fixed cost a call and a cheaper step (the loop) overtakes one without
    (the operator) at fewer rows the longer the call: here from 16 rows at 8 steps, from 4 at
    64."""
    clock = SharedClock()
    monkeypatch.setattr(cost.time, "perf_counter", lambda: clock.now)

    def graph(fixed: float, per_step: float, per_row_step: float):
        def run(inputs) -> None:
            rows, steps = inputs.shape[:2]
            clock.now += fixed + steps * (per_step + rows * per_row_step)

        return run

    operator, loop = graph(60e-6, 2.5e-6, 0.5e-6), graph(85e-6, 2.8e-6, 0.25e-6)
    assert cost.crossover(operator, loop, features=1, steps=cost.SHORT_PROBE_STEPS) == 16
    long = cost.crossover(operator, loop, 1, cost.LONG_PROBE_STEPS, cost.LONG_CROSSOVER_ROWS)
    assert long == 4


def test_a_call_runs_the_graph_measured_faster_for_its_length():
    predictor = load_models(ARTIFACTS, ["CPUExecutionProvider"], threads=1)["co2"].predictor
    predictor.min_batch, predictor.min_batch_long = 16, 4
    long = cost.LONG_STEPS
    assert predictor.session_for(8, long - 1) is predictor.session
    assert predictor.session_for(8, long) is predictor.batched_session
    assert predictor.session_for(16, 1) is predictor.batched_session
    assert predictor.session_for(2, 480) is predictor.session
