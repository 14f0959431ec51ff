"""`rnn-serve train`'s intervals: the wider, per level, step and tail, of the calibration on the
stretches the networks stopped early on and the one on the stretches after the folds, so that
they hold on the errors of each."""

from __future__ import annotations

import numpy as np

from rnn_serve.contract.manifest import Preprocessing
from rnn_serve.model.series import intervals
from rnn_serve.model.series.load import Series
from rnn_serve.model.series.split import SeriesSplit

HORIZON, ORIGINS, LEVELS = 3, 200, (80, 95)
SPEC = Preprocessing(difference=0, mean=0.0, std=2.0)  # errors in units of 2


def part(errors: np.ndarray) -> intervals.Part:
    """A stretch whose forecasts miss what happened by ``errors`` (origins, horizon)."""
    values = np.arange(100.0 + ORIGINS + HORIZON)
    split = SeriesSplit(Series("s", values, None, 0, 0), 100, 100 + ORIGINS)

    def forecaster(s, at, horizon):  # type: ignore[no-untyped-def]
        actual = s.values[np.minimum(at[:, None] + np.arange(1, horizon + 1), len(s.values) - 1)]
        return actual - errors[at - (s.validation_start - 1)]

    return intervals.Part([split], SPEC, forecaster)


def inside(found: intervals.Intervals, errors: np.ndarray, level: int) -> float:
    """The share of the errors (scaled, where their targets lie in the stretch) inside."""
    scaled = errors / SPEC.std
    above = np.array(found.half_widths[str(level)])
    below = np.array((found.lower_widths or found.half_widths)[str(level)])
    known = np.arange(ORIGINS)[:, None] + np.arange(1, HORIZON + 1) <= ORIGINS
    return float(((-below <= scaled) & (scaled <= above))[known].mean())


def test_the_intervals_hold_on_the_seen_and_the_unseen_errors_each():
    rng = np.random.default_rng(0)
    seen = rng.normal(0, 1, (ORIGINS, HORIZON))  # calm, as where the networks stopped
    unseen = rng.normal(3, 1, (ORIGINS, HORIZON))  # biased up, as after
    found = intervals.calibrate([part(seen)], [part(unseen)], HORIZON, LEVELS)
    for level in LEVELS:
        assert inside(found, seen, level) >= level / 100
        assert inside(found, unseen, level) >= level / 100
    alone = intervals.calibrate([part(seen)], [], HORIZON, LEVELS)
    assert inside(alone, unseen, 80) < 0.7  # the seen errors alone would not have held
    # no wider than each side needs: the upper side is the unseen's, the lower the seen's
    by_unseen = intervals.calibrate([part(unseen)], [], HORIZON, LEVELS)
    assert found.half_widths == by_unseen.half_widths
    assert found.lower_widths == alone.lower_widths
    assert found.calibration["unseen_origins"] == alone.calibration["origins"] == ORIGINS
    assert alone.calibration["unseen_origins"] == 0
