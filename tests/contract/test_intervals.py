"""Split-conformal widths: each tail's finite-sample rank, monotone in the horizon, leaning
with biased errors, and the coverage they promise on errors like the ones they were
calibrated on."""

from __future__ import annotations

import numpy as np
import pytest

from rnn_serve.contract.intervals import Intervals, conformal_widths, level_of


def test_each_tail_takes_its_finite_sample_rank():
    errors = np.arange(-4.0, 5.0)[:, np.newaxis]  # 9 signed errors, -4..4, one horizon step
    below, above = conformal_widths(errors, levels=(50, 80))
    # above: the ceil(10 * .75) = 8th smallest, 3, and ceil(10 * .9) = 9th, 4; below: minus the
    # floor(10 * .25) = 2nd, -3, and the floor(10 * .1) = 1st, -4
    assert above == {"50": [3.0], "80": [4.0]} and below == {"50": [3.0], "80": [4.0]}


def test_nan_errors_are_outside_the_calibration_part_and_widths_never_shrink():
    errors = np.array([[-1.0, 5.0], [2.0, -6.0], [3.0, np.nan]])
    below, above = conformal_widths(errors, levels=(50,))
    assert above == {"50": [3.0, 5.0]} and below == {"50": [1.0, 6.0]}


def test_errors_leaning_one_way_give_an_interval_leaning_with_them():
    errors = np.array([[1.0], [2.0], [3.0], [4.0]])  # every forecast too low
    below, above = conformal_widths(errors, levels=(50,))
    assert below == {"50": [0.0]}  # never above the forecast: the forecast stays inside
    assert above == {"50": [4.0]}  # ceil(5 * .75) = 4th


@pytest.mark.parametrize("level", [50, 80, 90, 95])
@pytest.mark.parametrize("shift", [0.0, 0.5])
def test_exchangeable_errors_are_covered_as_promised(level, shift):
    rng = np.random.default_rng(level)
    calibration = rng.standard_t(4, size=(400, 3)) + shift
    fresh = rng.standard_t(4, size=(20000, 3)) + shift
    below, above = (np.array(w[str(level)]) for w in conformal_widths(calibration, (level,)))
    coverage = ((-below <= fresh) & (fresh <= above)).mean()
    assert level / 100 - 0.03 <= coverage <= level / 100 + 0.05
    if shift:  # biased errors: more room above the forecast than below it
        assert (above > below).all()


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


def test_lower_widths_set_the_distance_below_the_forecast():
    intervals = Intervals(half_widths={"80": [1.0, 2.0]}, lower_widths={"80": [0.5, 0.5]})
    lower, upper = intervals.bounds(np.array([[10.0, 10.0]]), 80)
    np.testing.assert_array_equal(lower, [[9.5, 9.5]])
    np.testing.assert_array_equal(upper, [[11.0, 12.0]])
    scaled = intervals.model_copy(update={"scaled": True})
    lower, upper = scaled.bounds(np.array([[10.0, 10.0]]), 80, 0.1, log=True)
    np.testing.assert_allclose(lower, 10 * np.exp(-0.05) * np.ones((1, 2)))
    np.testing.assert_allclose(upper, 10 * np.exp([[0.1, 0.2]]))
