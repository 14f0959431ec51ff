"""The forecasting benchmark's own arithmetic (bench/forecast.py): the split, the origins, MASE,
coverage, the verdicts against the targets, and the page it writes. The methods themselves run
in `make bench-forecast`, in an environment of its own."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bench.forecast import (
    BEGIN,
    END,
    METHODS,
    Series,
    report,
    seasonal_naive,
    split_task,
    write_between_markers,
)
from bench.forecast_data import Task

SEASON, HORIZON, TEST = 4, 4, 10


def trending(length: int = 60, slope: float = 0.5) -> Series:
    """A season plus a straight line: seasonal naive is off by slope * season at every step,
    in sample and ahead alike, so its MASE is exactly 1 at every horizon step."""
    t = np.arange(length, dtype=np.float64)
    values = np.tile([3.0, -1.0, 2.0, 0.0], length // SEASON) + slope * t
    return Series("task", "a", values, SEASON, HORIZON, TEST)


def test_origins_read_up_to_the_test_period_and_their_horizons_lie_inside_it():
    s = trending()
    assert s.origins[0] == s.test_start - 1 == 49
    assert s.origins[-1] + s.horizon == len(s.values) - 1
    assert np.array_equal(s.actual[0], s.values[50:54])
    assert np.array_equal(s.actual[-1], s.values[-4:])


def test_seasonal_naive_scores_one_where_its_error_is_its_in_sample_error():
    s = trending()
    seasonal_naive(s)
    assert np.array_equal(s.forecasts["seasonal naive"][0], s.values[46:50])
    assert [s.mase("seasonal naive", h) for h in range(1, HORIZON + 1)] == pytest.approx([1.0] * 4)


def test_mase_and_coverage_of_a_forecast():
    s = trending()
    s.forecasts["exact"] = s.actual.copy()
    s.forecasts["off by one"] = s.actual + 1.0  # the in-sample scale is 0.5 * 4
    assert s.mase("exact", 1) == 0.0
    assert s.mase("off by one", HORIZON) == pytest.approx(0.5)
    s.bounds["exact", 80] = (s.actual - 0.1, s.actual + 0.1)
    s.bounds["exact", 95] = (s.actual + 0.1, s.actual + 0.2)
    assert (s.coverage("exact", 80), s.coverage("exact", 95)) == (1.0, 0.0)
    assert s.coverage("off by one", 80) is None


def test_the_test_period_is_two_horizons_or_a_tenth_of_the_shortest_series():
    def frame(lengths: dict[str, int]) -> pd.DataFrame:
        return pd.DataFrame(
            [
                {"id": name, "date": pd.Timestamp("2000-01-01") + pd.DateOffset(months=3 * i)}
                | {"value": float(i)}
                for name, n in lengths.items()
                for i in range(n)
            ]
        )

    short = split_task(Task("panel", "QS", frame({"a": 55, "b": 60})))
    assert [(s.id, s.season, s.horizon, s.test) for s in short] == [
        ("a", 4, 4, 8),
        ("b", 4, 4, 8),
    ]
    (long,) = split_task(Task("one", "QS", frame({"x": 203})))
    assert long.test == 21


def scored(ours_offset: float) -> Series:
    s = trending()
    seasonal_naive(s)
    for method in METHODS:
        s.forecasts[method] = s.forecasts["seasonal naive"] + (
            ours_offset if method == "rnn-serve" else 0.0
        )
    return s


def test_the_report_names_series_worse_than_naive_and_files_over_budget():
    series = [scored(0.0), scored(5.0)]
    series[1].id = "b"
    walls = {"task": {"rnn-serve train": 30.0, "statsforecast (both)": 1.0}}
    text = report(series, walls, budget_s=20.0)
    assert "- MASE at h=H at most seasonal naive's: 1 of 2 series; worse on task/b" in text
    assert "within 1.25x of the budget: 0 of 1 files, the longest 30 s; over: task (30 s)" in text
    within = report(series[:1], walls, budget_s=24.0)
    assert "2 series" not in within and "1 of 1 series" in within
    assert "1 of 1 files, the longest 30 s\n" in within


def test_results_replace_only_what_lies_between_the_markers(tmp_path):
    page = tmp_path / "forecasting.md"
    page.write_text(f"# Prose\n\n{BEGIN}\nold results\n{END}\n\nMore prose.\n")
    write_between_markers(page, "new results\n")
    assert page.read_text() == f"# Prose\n\n{BEGIN}\nnew results\n{END}\n\nMore prose.\n"
    bare = tmp_path / "elsewhere.md"
    write_between_markers(bare, "results\n")
    assert bare.read_text() == f"{BEGIN}\nresults\n{END}\n"
