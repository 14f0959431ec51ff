"""The measured pace: what a busy machine really does with the work the timings expect."""

from __future__ import annotations

import pytest

from rnn_serve.service.engine.pace import SPREAD, WINDOW_S, Pace


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def run_windows(pace: Pace, clock: Clock, done_per_window: float, backlog_s: float) -> None:
    """Eight windows in which ``done_per_window`` seconds of expected work finish, with
    ``backlog_s`` still queued after each."""
    pace.queued()
    for _ in range(8):
        clock.now += WINDOW_S
        pace.finished(done_per_window, backlog_s)


def test_with_work_queued_throughout_the_pace_follows_what_was_done():
    clock = Clock()
    pace = Pace(parallelism=1, max_queue_s=1.0, clock=clock)
    run_windows(pace, clock, done_per_window=WINDOW_S / 3, backlog_s=0.9)  # a third as fast
    assert pace.rate == pytest.approx(1 / 3, rel=0.1)


def test_without_a_queue_it_measures_the_clients_so_the_pace_goes_back_to_the_timings():
    clock = Clock()
    pace = Pace(parallelism=2, max_queue_s=1.0, clock=clock)
    run_windows(pace, clock, done_per_window=WINDOW_S / 3, backlog_s=1.9)
    slowed = pace.rate
    run_windows(pace, clock, done_per_window=0.01, backlog_s=0.05)  # a trickle of requests
    assert slowed < 1 and pace.rate == pytest.approx(2, rel=0.1)


def test_batching_can_make_it_faster_than_the_timings_within_a_bound():
    clock = Clock()
    pace = Pace(parallelism=1, max_queue_s=1.0, clock=clock)
    run_windows(pace, clock, done_per_window=WINDOW_S * 4, backlog_s=3.0)
    assert pace.rate == pytest.approx(4, rel=0.1)
    for _ in range(2):
        run_windows(pace, clock, done_per_window=WINDOW_S * 100, backlog_s=300.0)
    assert pace.rate == SPREAD


def test_a_window_ends_early_when_the_queue_empties():
    clock = Clock()
    pace = Pace(parallelism=1, max_queue_s=0.2, clock=clock)
    pace.queued()
    clock.now += 0.1
    pace.finished(0.05, backlog_s=0.15)  # half as fast, still queued: the window goes on
    assert pace.rate == 1
    clock.now += 0.1
    pace.finished(0.15, backlog_s=0.0)  # nothing left: 0.2 s of work in 0.2 s
    assert pace.rate == pytest.approx(1)
    pace.finished(1.0, backlog_s=0.0)  # no window open: nothing to measure
    assert pace.rate == pytest.approx(1)
