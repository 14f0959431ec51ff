"""The blend with seasonal naive: chosen per step and per series on the validation periods,
served by the same function the server calls, and said plainly where naive wins."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from rnn_serve.cli.train import _blend_line
from rnn_serve.contract.forecast import blended, seasonal_naive
from rnn_serve.contract.manifest import Blend, Manifest
from rnn_serve.model.series import blend
from rnn_serve.model.series.evaluate import seasonal_naive as naive_forecaster
from rnn_serve.model.series.load import Dataset, Series
from rnn_serve.model.series.split import Periods, split

SEASON, HORIZON = 4, 4


def panel() -> list:
    """Two series: one that repeats its season exactly (naive is perfect), one that climbs in a
    straight line (naive is always a season behind)."""
    t = np.arange(120.0)
    repeating = Series("repeating", 10 + np.tile([1.0, 5.0, 2.0, 7.0], 30), None, 0, 0)
    climbing = Series("climbing", 5 + 0.5 * t, None, 0, 0)
    return split(Dataset([repeating, climbing], "QS", True), Periods(12, 12), 20)


def truth_for(names: set[str]):  # type: ignore[no-untyped-def]
    """A "network" that knows the future of the series named, and says 0 for the others."""

    def forecaster(s, at, horizon):  # type: ignore[no-untyped-def]
        targets = np.minimum(at[:, None] + np.arange(1, horizon + 1), len(s.values) - 1)
        exact = s.values[targets]
        return exact if s.id in names else np.zeros_like(exact)

    return forecaster


def choose(names: set[str]) -> blend.Choice:
    splits = panel()
    periods = [blend.Period(splits, truth_for(names))]
    return blend.choose(periods, naive_forecaster(SEASON), HORIZON, SEASON, window=8)


def test_a_network_better_everywhere_is_served_alone():
    choice = choose({"repeating", "climbing"})
    assert choice.blend is None and choice.naive_wins() == {}
    assert choice.network_mase == [0.0] * HORIZON
    assert _blend_line(choice).startswith("served forecasts: the network alone")


def test_where_no_network_beats_naive_naive_is_served_and_the_command_says_so():
    choice = choose({"climbing"})  # the network knows nothing of the repeating series
    assert choice.blend is not None
    assert choice.blend.series == {"repeating": [0.0] * HORIZON, "climbing": [1.0] * HORIZON}
    assert choice.naive_wins() == {"repeating": [1, 2, 3, 4]}
    assert choice.served_mase == [0.0] * HORIZON  # each series served by what wins for it
    line = _blend_line(choice)
    plain = "no network beat seasonal naive in every validation period for repeating at steps"
    assert f"{plain} 1, 2, 3, 4" in line
    assert "the served forecasts there are seasonal naive's" in line


def test_a_network_that_loses_to_naive_in_one_period_is_not_served_on_its_average():
    """On the climbing series the network is exact in one period and 3 too low in the other,
    where naive, 2 too low, does better at every weight above 0; on average the network wins
    (errors 1.5 against 2). On the repeating series it is exact in both."""
    exact = truth_for({"repeating", "climbing"})

    def low_on_climbing(s, at, horizon):  # type: ignore[no-untyped-def]
        return exact(s, at, horizon) - 3.0 * (s.id == "climbing")

    splits = panel()
    periods = [blend.Period(splits, exact), blend.Period(splits, low_on_climbing)]
    choice = blend.choose(periods, naive_forecaster(SEASON), HORIZON, SEASON, window=8)
    assert choice.network_mase < choice.naive_mase  # what the average alone would have served
    assert choice.blend is not None
    assert choice.blend.series == {"repeating": [1.0] * HORIZON, "climbing": [0.0] * HORIZON}
    assert choice.naive_wins() == {"climbing": [1, 2, 3, 4]}


def test_the_served_blend_mixes_each_row_at_its_series_weights():
    recent = np.array([[1.0, 2.0, 3.0, 4.0, 5.0], [1.0, 2.0, 3.0, 4.0, 5.0]])
    np.testing.assert_array_equal(seasonal_naive(recent, 4, 6), [[2, 3, 4, 5, 2, 3]] * 2)
    np.testing.assert_array_equal(seasonal_naive(recent, 1, 2), [[5, 5]] * 2)
    mixed = Blend(season=4, weights=[1.0, 0.5], series={"a": [0.0]})
    forecasts = np.zeros((2, 3))
    found = blended(forecasts, recent, mixed, ["a", "unknown"])
    # "a" is naive's throughout; the pooled weights serve the unknown id (the last one onwards)
    np.testing.assert_array_equal(found, [[2.0, 3.0, 4.0], [0.0, 1.5, 2.0]])
    np.testing.assert_array_equal(blended(forecasts, recent, None), forecasts)


def test_a_blend_needs_a_window_that_holds_a_season():
    fields = {
        "name": "m",
        "version": "1",
        "onnx_file": "m.onnx",
        "sha256": "0" * 64,
        "features": 1,
        "state_size": 4,
        "window": 8,
    }
    assert Manifest(**fields, blend=Blend(season=8, weights=[0.5])).blend is not None
    with pytest.raises(ValidationError, match="a season of 12 needs a window that long"):
        Manifest(**fields, blend=Blend(season=12, weights=[0.5]))
