"""The forecasting benchmark's series: 24 of them, in 10 files, every one from a data set that
ships inside statsmodels or statsforecast (nothing is downloaded). Each file is what a user
would hand to `rnn-serve train`: columns id, date, value, one or many series. Where each comes
from: docs/forecasting.md."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

COUNTRIES = ("Brazil", "China", "India", "Japan", "Kenya", "Germany", "United States", "Nigeria")


@dataclass(frozen=True)
class Task:
    name: str
    freq: str  # pandas, as rnn-serve train and statsforecast read it
    frame: pd.DataFrame  # id, date, value


def _long(frame: pd.DataFrame, dates: pd.DatetimeIndex) -> pd.DataFrame:
    wide = frame.set_axis(dates)
    return (
        wide.rename_axis("date")
        .reset_index()
        .melt(id_vars="date", var_name="id", value_name="value")[["id", "date", "value"]]
    )


def co2() -> pd.DataFrame:
    from statsmodels.datasets import co2 as source

    monthly = source.load_pandas().data["co2"].resample("MS").mean().interpolate()
    return _long(monthly.to_frame("co2"), monthly.index)


def sunspots() -> pd.DataFrame:
    from statsmodels.datasets import sunspots as source

    data = source.load_pandas().data
    years = pd.to_datetime(data["YEAR"].astype(int).astype(str))
    return _long(data[["SUNACTIVITY"]].rename(columns={"SUNACTIVITY": "sunspots"}), years)


def nile() -> pd.DataFrame:
    from statsmodels.datasets import nile as source

    data = source.load_pandas().data
    years = pd.to_datetime(data["year"].astype(int).astype(str))
    return _long(data[["volume"]].rename(columns={"volume": "nile"}), years)


def elnino() -> pd.DataFrame:
    from statsmodels.datasets import elnino as source

    data = source.load_pandas().data
    values = data.drop(columns="YEAR").to_numpy().ravel()
    start = f"{int(data['YEAR'].iloc[0])}-01-01"
    dates = pd.date_range(start, periods=len(values), freq="MS")
    return _long(pd.DataFrame({"elnino": values}), dates)


def elec_equip() -> pd.DataFrame:
    from statsmodels.datasets import elec_equip as source

    data = source.load_pandas().data
    return _long(data.set_axis(["elec_equip"], axis=1).reset_index(drop=True), data.index)


def air_passengers() -> pd.DataFrame:
    from statsforecast.utils import AirPassengersDF

    data = AirPassengersDF
    months = pd.DatetimeIndex(data["ds"]).to_period("M").to_timestamp()
    return _long(data[["y"]].rename(columns={"y": "air_passengers"}), months)


def _quarters(data: pd.DataFrame) -> pd.DatetimeIndex:
    return pd.PeriodIndex.from_fields(
        year=data["year"].astype(int), quarter=data["quarter"].astype(int), freq="Q"
    ).to_timestamp()


def macro() -> pd.DataFrame:
    from statsmodels.datasets import macrodata as source

    data = source.load_pandas().data
    return _long(data[["realgdp", "realcons", "realinv"]].reset_index(drop=True), _quarters(data))


def interest_inflation() -> pd.DataFrame:
    from statsmodels.datasets import interest_inflation as source

    data = source.load_pandas().data
    return _long(data[["Dp", "R"]].reset_index(drop=True), _quarters(data))


def danish() -> pd.DataFrame:
    from statsmodels.datasets import danish_data as source

    data = source.load_pandas().data
    return _long(data.reset_index(drop=True), pd.DatetimeIndex(data.index))


def fertility() -> pd.DataFrame:
    from statsmodels.datasets import fertility as source

    data = source.load_pandas().data.set_index("Country Name")
    years = [str(year) for year in range(1960, 2012)]
    wide = data.loc[list(COUNTRIES), years].T.reset_index(drop=True)
    return _long(wide, pd.to_datetime(years))


LOADERS: dict[str, tuple[str, Callable[[], pd.DataFrame]]] = {
    "co2": ("MS", co2),
    "sunspots": ("YS", sunspots),
    "nile": ("YS", nile),
    "elnino": ("MS", elnino),
    "elec_equip": ("MS", elec_equip),
    "air_passengers": ("MS", air_passengers),
    "macro": ("QS", macro),
    "interest_inflation": ("QS", interest_inflation),
    "danish": ("QS", danish),
    "fertility": ("YS", fertility),
}


def tasks(names: list[str] | None = None) -> list[Task]:
    chosen = names or list(LOADERS)
    return [Task(name, LOADERS[name][0], LOADERS[name][1]()) for name in chosen]
