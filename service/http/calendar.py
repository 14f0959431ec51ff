"""Timestamps of forecast steps: a start plus whole steps of a frequency, by the calendar for
months, quarters and years (Jan 31 + 1 month = Feb 28 or 29). The frequencies are KServe's."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import Enum

TIMEDELTAS = {
    "S": timedelta(seconds=1), "second": timedelta(seconds=1),
    "T": timedelta(minutes=1), "minute": timedelta(minutes=1),
    "H": timedelta(hours=1), "hour": timedelta(hours=1),
    "D": timedelta(days=1), "day": timedelta(days=1),
    "W": timedelta(weeks=1), "week": timedelta(weeks=1),
}  # fmt: skip
MONTHS = {"M": 1, "month": 1, "Q": 3, "quarter": 3, "Y": 12, "year": 12}
Frequency = Enum("Frequency", {name: name for name in [*TIMEDELTAS, *MONTHS]}, type=str)  # type: ignore[misc]


def parse_start(text: str) -> datetime:
    """ISO 8601, a trailing Z meaning UTC; ValueError otherwise."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class BeyondCalendar(ValueError):
    """Steps that would run past the last day Python's dates hold (year 9999)."""


def steps_after(start: datetime, frequency: str, first: int, count: int) -> list[str]:
    """The ISO timestamps of steps ``first`` .. ``first + count - 1`` after ``start``."""
    try:
        return [advance(start, frequency, first + k).isoformat() for k in range(count)]
    except (OverflowError, ValueError):
        raise BeyondCalendar(
            f"{first + count - 1} steps of {frequency} after {start.isoformat()} run past the "
            "year 9999"
        ) from None


def advance(start: datetime, frequency: str, steps: int) -> datetime:
    if frequency in TIMEDELTAS:
        return start + steps * TIMEDELTAS[frequency]
    months = start.month - 1 + steps * MONTHS[frequency]
    year, month = start.year + months // 12, months % 12 + 1
    return start.replace(year=year, month=month, day=min(start.day, _days_in(year, month)))


def _days_in(year: int, month: int) -> int:
    following = datetime(year + month // 12, month % 12 + 1, 1)
    return (following - timedelta(days=1)).day
