"""What a front end asks of the engine, and what it gets back: typed values on arrays, the
same for HTTP /v1, /v2, the time-series protocol, WebSocket streams and gRPC."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float32]
Bounds = tuple[NDArray[np.float64], NDArray[np.float64]]


@dataclass(frozen=True, slots=True)
class SequenceStep:
    """Which sequence a request belongs to, and whether it begins or ends it."""

    id: str
    start: bool = False
    end: bool = False
    version: str | None = None  # the model version the request named, if it named one
    key: str | None = None  # its idempotency key: a repeat returns the first answer
    owner: str = ""  # who started it (a digest of the API key): others cannot see it
    after: int | None = None  # the steps it follows: applied only to a sequence at exactly that

    def name(self, model: str) -> str:
        """Its key in the store: under its owner's, so another key finds nothing there."""
        return f"{model}/{self.owner}/{self.id}" if self.owner else f"{model}/{self.id}"


@dataclass(frozen=True, slots=True)
class PredictCall:
    """Per-step outputs of ``inputs`` (batch, steps, features) from ``initial_state`` (None:
    zeros, or the stored state of ``sequence``)."""

    model: str
    inputs: Array
    initial_state: Array | None = None
    version: str | None = None  # None: the newest served
    sequence: SequenceStep | None = None


@dataclass(frozen=True, slots=True)
class Prediction:
    model: str
    version: str  # the one that ran: a sequence stays on the version that started it
    outputs: Array
    state: Array
    steps: int | None = None  # the steps its sequence has consumed so far (None: no sequence)
    replayed: bool = False  # the stored answer of a request applied before, under its key


@dataclass(frozen=True, slots=True)
class ForecastCall:
    """``horizon`` steps ahead of each raw series in ``series`` (of the series ``ids``, when
    given), with the intervals at ``levels`` and the ``quantiles`` asked for."""

    model: str
    series: list[NDArray[Any]]
    horizon: int
    version: str | None = None
    ids: list[str] | None = None
    levels: list[int] | None = None
    quantiles: list[float] | None = None
    sequence: SequenceStep | None = None


@dataclass(frozen=True, slots=True)
class Forecast:
    model: str
    version: str
    forecasts: NDArray[np.float64]  # (series, horizon)
    steps: int | None = None
    replayed: bool = False
    intervals: dict[str, Bounds] = field(default_factory=dict)  # by level: (lower, upper)
    quantiles: dict[str, NDArray[np.float64]] = field(default_factory=dict)
