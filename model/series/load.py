"""A CSV or Parquet file of one series, or many in long format, as regular series.

Timestamps are parsed and sorted; the frequency is given or inferred per series (they must
agree); missing timestamps and empty values become gaps, filled by linear interpolation
(contract/gaps.py) and counted; missing values at either end are dropped and counted too.
Every refusal names the column, the series or the row.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from rnn_serve.contract.gaps import fill_gaps

SINGLE = "series"  # the id of the one series of a file without an id column


class DataError(ValueError):
    """The file cannot be trained on as it is; the message says where and why."""


@dataclass(frozen=True)
class Series:
    id: str
    values: NDArray[np.float64]
    start: pd.Timestamp | None  # the first kept observation's time
    filled: int  # values interpolated inside the series
    trimmed: int  # missing values dropped at its ends


@dataclass(frozen=True)
class Dataset:
    series: list[Series]
    freq: str | None  # pandas' frequency alias; None without a time column
    inferred: bool


def read_table(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    with path.open("rb") as handle:
        parquet = handle.read(4) == b"PAR1"
    try:
        return pd.read_parquet(path) if parquet else pd.read_csv(path)
    except Exception as error:  # the reader's own words say what is wrong
        raise DataError(
            f"{path.name}: cannot read it as {'Parquet' if parquet else 'CSV'}: {error}"
        ) from error


def load_series(
    path: Path,
    value_column: str,
    time_column: str | None = None,
    id_column: str | None = None,
    freq: str | None = None,
) -> Dataset:
    table = read_table(path)
    for role, column in (("value", value_column), ("time", time_column), ("id", id_column)):
        if column is not None and column not in table.columns:
            raise DataError(
                f"{path.name}: no {role} column {column!r}; its columns are {list(table.columns)}"
            )
    values = pd.to_numeric(table[value_column], errors="coerce")
    bad = values.isna() & table[value_column].notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"{path.name}: column {value_column!r} has {table[value_column].iloc[row]!r} at row "
            f"{row + 1}, not a number"
        )
    table = table.assign(**{value_column: values})
    groups = table.groupby(id_column, sort=True) if id_column else [(SINGLE, table)]
    series, freqs = [], set()
    for key, group in groups:
        name = str(key)
        if time_column is None:
            series.append(_regular(name, group[value_column].to_numpy(np.float64), None))
            continue
        found, found_freq = _timed(name, group, time_column, value_column, freq)
        series.append(found)
        freqs.add(found_freq)
    if len(freqs) > 1:
        raise DataError(f"the series have different frequencies {sorted(freqs)}; give --freq")
    only = next(iter(freqs), None)
    return Dataset(series, only, inferred=freq is None and only is not None)


def _timed(
    name: str, group: pd.DataFrame, time_column: str, value_column: str, freq: str | None
) -> tuple[Series, str]:
    times = pd.to_datetime(group[time_column], errors="coerce")
    if times.isna().any():
        row = int(np.flatnonzero(times.isna().to_numpy())[0])
        raise DataError(
            f"series {name!r}: {time_column!r} has {group[time_column].iloc[row]!r}, not a time"
        )
    frame = pd.Series(group[value_column].to_numpy(np.float64), index=times).sort_index()
    duplicated = frame.index.duplicated()
    if duplicated.any():
        raise DataError(f"series {name!r}: {frame.index[duplicated][0]} appears twice")
    alias = freq or _infer(name, frame.index)
    try:
        regular = frame.asfreq(alias)
    except ValueError as error:
        raise DataError(f"series {name!r}: frequency {alias!r}: {error}") from error
    if len(regular) < len(frame) or regular.index[0] != frame.index[0]:
        raise DataError(f"series {name!r}: its times do not fall on the frequency {alias!r}")
    return _regular(name, regular.to_numpy(), regular.index), alias


def _infer(name: str, index: pd.DatetimeIndex) -> str:
    """pandas' inference on the whole index, or, when gaps defeat it, on the most common
    step between consecutive times."""
    alias = _pandas_infer(index) if len(index) >= 3 else None
    if alias is None and len(index) >= 3:
        steps = pd.Series(index[1:] - index[:-1]).mode()
        alias = pd.tseries.frequencies.to_offset(steps.iloc[0]).freqstr if len(steps) else None
        if alias is not None:
            probe = pd.date_range(index[0], periods=3, freq=alias)
            alias = _pandas_infer(probe) or alias
    if alias is None:
        raise DataError(f"series {name!r}: cannot infer its frequency; give --freq")
    return str(alias)


def _pandas_infer(index: pd.DatetimeIndex) -> str | None:
    with warnings.catch_warnings():  # pandas 3 warns that pandas 4 will return an offset
        warnings.filterwarnings("ignore", message="A future version of pandas will return")
        found = pd.infer_freq(index)
    return getattr(found, "freqstr", found)


def _regular(name: str, values: NDArray[np.float64], index: pd.DatetimeIndex | None) -> Series:
    missing = np.isnan(values)
    known = np.flatnonzero(~missing)
    if not len(known):
        raise DataError(f"series {name!r} has no values")
    first, last = int(known[0]), int(known[-1])
    kept, gaps = values[first : last + 1], missing[first : last + 1]
    start = index[first] if index is not None else None
    return Series(name, fill_gaps(kept, gaps), start, int(gaps.sum()), len(values) - len(kept))
