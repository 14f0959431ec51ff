"""Split-conformal half-widths: the finite-sample rank, monotone in the horizon, and the
coverage they promise on errors like the ones they were calibrated on."""

from __future__ import annotations

import numpy as np
import pytest

from rnn_serve.contract.intervals import Intervals, conformal_half_widths, level_of


def test_the_rank_is_ceil_n_plus_one_times_the_level():
    errors = np.arange(1.0, 10.0)[:, np.newaxis]  # 9 errors: 1..9, one horizon step
    widths = conformal_half_widths(errors, levels=(50, 80, 95))
    assert widths == {"50": [5.0], "80": [8.0], "95": [9.0]}  # ceil(10 * .5), ceil(8), min(10, 9)


def test_nan_errors_are_outside_the_calibration_part_and_widths_never_shrink():
    errors = np.array([[1.0, 5.0], [2.0, 1.0], [3.0, np.nan]])
    assert conformal_half_widths(errors, levels=(50,)) == {"50": [2.0, 5.0]}


@pytest.mark.parametrize("level", [50, 80, 90, 95])
def test_exchangeable_errors_are_covered_as_promised(level):
    rng = np.random.default_rng(level)
    calibration = np.abs(rng.standard_t(4, size=(400, 3)))
    fresh = np.abs(rng.standard_t(4, size=(20000, 3)))
    widths = np.array(conformal_half_widths(calibration, (level,))[str(level)])
    coverage = (fresh <= widths).mean()
    assert level / 100 - 0.03 <= coverage <= level / 100 + 0.05


def test_bounds_and_quantile_levels():
    intervals = Intervals(half_widths={"80": [1.0, 2.0, 3.0]})
    lower, upper = intervals.bounds(np.array([[10.0, 10.0]]), 80)
    np.testing.assert_array_equal(lower, [[9.0, 8.0]])
    np.testing.assert_array_equal(upper, [[11.0, 12.0]])
    assert (intervals.levels, intervals.horizon) == ([80], 3)
    assert [level_of(q) for q in (0.1, 0.9, 0.5, 0.025, 0.975)] == [80, 80, 0, 95, 95]


def test_scaled_widths_follow_each_series_std_and_multiply_on_logs():
    intervals = Intervals(half_widths={"80": [0.5, 1.0]}, scaled=True)
    forecasts = np.array([[10.0, 10.0], [200.0, 200.0]])
    std = np.array([[1.0], [4.0]])
    lower, upper = intervals.bounds(forecasts, 80, std)
    np.testing.assert_allclose(lower, [[9.5, 9.0], [198.0, 196.0]])
    np.testing.assert_allclose(upper, [[10.5, 11.0], [202.0, 204.0]])
    lower, upper = intervals.bounds(forecasts, 80, np.array([[0.1], [0.2]]), log=True)
    np.testing.assert_allclose(lower, forecasts * np.exp(-np.array([[0.05, 0.1], [0.1, 0.2]])))
    np.testing.assert_allclose(upper * lower, forecasts**2)  # symmetric in log space
