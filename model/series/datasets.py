"""Series that statsmodels ships, written as the CSV files a user would bring: the shipped co2
model is trained from one (``make train``), and the tests and the README use them.

    python -m rnn_serve.model.series.datasets co2 co2.csv
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

# What each file holds, and how `rnn-serve train` reads it.
COLUMNS = {
    "co2": {"value_column": "co2", "time_column": "date"},
    "sunspots": {"value_column": "activity", "time_column": "year"},
    "macrodata": {"value_column": "value", "time_column": "date", "id_column": "id"},
}
MACRO_SERIES = ("realgdp", "realcons", "realinv")


def co2() -> pd.DataFrame:
    """Weekly Mauna Loa CO2 (ppm), 1958-2001, with the gaps the record has."""
    from statsmodels.datasets import co2 as source

    return source.load_pandas().data.reset_index(names="date")


def sunspots() -> pd.DataFrame:
    """Yearly sunspot activity, 1700-2008."""
    from statsmodels.datasets import sunspots as source

    frame = source.load_pandas().data
    years = frame["YEAR"].astype(int).astype(str)
    return pd.DataFrame({"year": years, "activity": frame["SUNACTIVITY"]})


def macrodata() -> pd.DataFrame:
    """Quarterly US real GDP, consumption and investment, 1959-2009, in long format."""
    from statsmodels.datasets import macrodata as source

    data = source.load_pandas().data
    data["date"] = pd.PeriodIndex.from_fields(
        year=data["year"].astype(int), quarter=data["quarter"].astype(int), freq="Q"
    ).to_timestamp()
    return data.melt(
        id_vars="date", value_vars=list(MACRO_SERIES), var_name="id", value_name="value"
    )


def write(name: str, path: Path) -> Path:
    frame = {"co2": co2, "sunspots": sunspots, "macrodata": macrodata}[name]()
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("name", choices=sorted(COLUMNS))
    parser.add_argument("path", type=Path)
    args = parser.parse_args()
    write(args.name, args.path)


if __name__ == "__main__":
    main()
