"""Reading users' series: CSV and Parquet, one series or many in long format, frequencies,
gaps; and refusals that name the column, series or row. Data from statsmodels' datasets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rnn_serve.model.series.load import DataError, load_series


def co2_csv(path):
    from statsmodels.datasets import co2

    frame = co2.load_pandas().data.reset_index(names="date")
    frame.to_csv(path, index=False)
    return frame


def test_one_weekly_series_with_gaps(tmp_path):
    path = tmp_path / "co2.csv"
    frame = co2_csv(path)
    dataset = load_series(path, "co2", time_column="date")
    (series,) = dataset.series
    assert dataset.inferred and dataset.freq.startswith("W")
    assert (
        series.filled
        == int(frame["co2"].iloc[: frame["co2"].last_valid_index() + 1].isna().sum())
        - series.trimmed
    )
    assert not np.isnan(series.values).any()
    assert series.start == pd.Timestamp(frame["date"].iloc[0]) + pd.Timedelta(weeks=series.trimmed)


def test_missing_timestamps_become_filled_gaps(tmp_path):
    from statsmodels.datasets import sunspots

    frame = sunspots.load_pandas().data
    frame["YEAR"] = pd.to_datetime(frame["YEAR"].astype(int).astype(str))
    dropped = frame.drop(index=[50, 51, 200])
    path = tmp_path / "sunspots.parquet"
    dropped.to_parquet(path)
    dataset = load_series(path, "SUNACTIVITY", time_column="YEAR", freq="YS")
    (series,) = dataset.series
    assert (series.filled, len(series.values), dataset.inferred) == (3, len(frame), False)
    expected = np.interp(50, [49, 52], frame["SUNACTIVITY"].to_numpy()[[49, 52]])
    assert series.values[50] == pytest.approx(expected)


def macro_long(path):
    from statsmodels.datasets import macrodata

    data = macrodata.load_pandas().data
    data["date"] = pd.PeriodIndex.from_fields(
        year=data["year"].astype(int), quarter=data["quarter"].astype(int), freq="Q"
    ).to_timestamp()
    long = data.melt(
        id_vars="date", value_vars=["realgdp", "cpi", "unemp"], var_name="id", value_name="value"
    )
    long.to_csv(path, index=False)
    return data


def test_several_series_in_long_format(tmp_path):
    path = tmp_path / "macro.csv"
    data = macro_long(path)
    dataset = load_series(path, "value", time_column="date", id_column="id")
    assert [s.id for s in dataset.series] == ["cpi", "realgdp", "unemp"]
    assert dataset.freq.startswith("Q")
    np.testing.assert_allclose(dataset.series[1].values, data["realgdp"].to_numpy())


@pytest.mark.parametrize(
    ("content", "arguments", "message"),
    [
        (
            "t,y\n2020-01-01,1\n",
            {"value_column": "v", "time_column": "t"},
            "no value column 'v'; its columns are ['t', 'y']",
        ),
        (
            "t,y\n2020-01-01,1\n2020-01-02,abc\n",
            {"value_column": "y", "time_column": "t"},
            "column 'y' has 'abc' at row 2, not a number",
        ),
        (
            "t,y\n2020-01-01,1\n2020-01-01,2\n2020-01-02,3\n",
            {"value_column": "y", "time_column": "t"},
            "appears twice",
        ),
        (
            "t,y\n2020-01-01,1\nnever,2\n",
            {"value_column": "y", "time_column": "t"},
            "'t' has 'never', not a time",
        ),
        (
            "t,y\n2020-01-01,1\n2020-01-02,2\n2020-01-09,3\n2020-01-11,3\n",
            {"value_column": "y", "time_column": "t", "freq": "W"},
            "do not fall on the frequency 'W'",
        ),
        (
            "t,y\n2020-01-01,\n2020-01-02,\n",
            {"value_column": "y", "time_column": "t", "freq": "D"},
            "series 'series' has no values",
        ),
    ],
    ids=["no-column", "not-a-number", "duplicate-time", "not-a-time", "off-frequency", "empty"],
)
def test_refusals_name_where(tmp_path, content, arguments, message):
    path = tmp_path / "data.csv"
    path.write_text(content)
    with pytest.raises(
        DataError,
        match=message.replace("(", r"\(")
        .replace(")", r"\)")
        .replace("[", r"\[")
        .replace("]", r"\]"),
    ):
        load_series(path, **arguments)
