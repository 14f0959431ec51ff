"""Gaps in a raw series: missing values inside it are filled by linear interpolation in
position (for evenly spaced observations, linear in time); a gap at either end cannot be, and
is refused, naming where it is."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


class GapAtEnd(ValueError):
    """A series starts or ends with missing values."""


def fill_gaps(values: NDArray[np.floating], missing: NDArray[np.bool_]) -> NDArray[np.float64]:
    """``values`` with the ``missing`` ones interpolated from their known neighbours."""
    if not missing.any():
        return values.astype(np.float64)
    positions = np.flatnonzero(missing)
    if missing[0] or missing[-1]:
        end = "starts" if missing[0] else "ends"
        edge = _run(positions, first=bool(missing[0]))
        raise GapAtEnd(
            f"{end} with missing values at positions {edge[0]}..{edge[1]}; only gaps between "
            "observed values can be filled (drop the missing ones at the ends)"
        )
    known = np.flatnonzero(~missing)
    filled = values.astype(np.float64).copy()
    filled[positions] = np.interp(positions, known, values[known])
    return filled


def _run(positions: NDArray[np.int64], first: bool) -> tuple[int, int]:
    """The first (or last) run of consecutive positions."""
    breaks = np.flatnonzero(np.diff(positions) != 1)
    if first:
        return int(positions[0]), int(positions[breaks[0]] if len(breaks) else positions[-1])
    return int(positions[breaks[-1] + 1] if len(breaks) else positions[0]), int(positions[-1])
