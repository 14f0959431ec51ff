"""Request and response bodies of the JSON API. Tensors become float32 arrays on validation."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any

import numpy as np
from numpy.typing import NDArray
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    WithJsonSchema,
    model_validator,
)
from pydantic.functional_validators import PlainValidator
from pydantic_core import PydanticCustomError

from rnn_serve.contract.gaps import GapAtEnd, fill_gaps
from rnn_serve.service.engine.calls import SequenceStep
from rnn_serve.service.http.calendar import Frequency
from rnn_serve.service.http.tensors import to_array


def _nested(rank: int, description: str) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "number"}
    for _ in range(rank):
        schema = {"type": "array", "items": schema, "minItems": 1}
    return schema | {"description": description}


def _tensor(name: str, rank: int, description: str) -> tuple[PlainValidator, WithJsonSchema]:
    validate = partial(_validate, name=name, rank=rank)
    return PlainValidator(validate), WithJsonSchema(_nested(rank, description))


def _validate(value: Any, info: Any, *, name: str, rank: int) -> NDArray[np.floating[Any]]:
    return to_array(value, name, rank, info)


@dataclass(frozen=True)
class SeriesBatch:
    rows: list[NDArray[np.floating[Any]]]
    nested: bool  # answers keep the request's nesting: one flat series in, one flat list out
    filled: dict[int, list[int]]  # per series, the positions of the nulls interpolated


def _series(value: Any, info: Any) -> SeriesBatch:
    """One series (a flat list) or several (a list of lists, of any lengths); nulls between
    observed values are interpolated (contract/gaps.py)."""
    nested = isinstance(value, list) and bool(value) and all(isinstance(r, list) for r in value)
    rows, filled = [], {}
    for index, row in enumerate(value if nested else [value]):
        name = f"series[{index}]" if nested else "series"
        values, gaps = _with_gaps(row, name, info)
        rows.append(values)
        if gaps:
            filled[index] = gaps
    return SeriesBatch(rows, nested, filled)


def _with_gaps(row: Any, name: str, info: Any) -> tuple[NDArray[np.floating[Any]], list[int]]:
    if not (isinstance(row, list) and None in row):
        return to_array(row, name, 1, info, np.float64), []
    missing = np.array([v is None for v in row])
    values = to_array([0.0 if v is None else v for v in row], name, 1, info, np.float64)
    try:
        return fill_gaps(values, missing), np.flatnonzero(missing).tolist()
    except GapAtEnd as error:
        raise PydanticCustomError("tensor", f"{name} {error}") from None


Inputs = Annotated[NDArray[np.float32], *_tensor("inputs", 3, "(batch, steps, features)")]
InitialState = Annotated[NDArray[np.float32], *_tensor("initial_state", 2, "(batch, hidden)")]
Series = Annotated[
    SeriesBatch,
    PlainValidator(_series),
    WithJsonSchema(
        {
            "oneOf": [_nested(1, "one series"), _nested(2, "several series, of any lengths")],
            "description": "raw observations in the series' own units, oldest first",
        }
    ),
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)


def _id_text(value: Any) -> Any:
    """Triton's clients number their sequences: an integer id means its decimal text."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


# A version as the repository names it: its folder's name, or a flat manifest's version.
ModelVersion = Annotated[StrictStr, Field(min_length=1, max_length=64)]


class SequenceOptions(Strict):
    """A request's sequence, on /v1 as ``sequence`` and on /v2 as Triton's parameters."""

    id: Annotated[StrictStr, BeforeValidator(_id_text)] = Field(
        min_length=1, max_length=256, description="Chosen by the client."
    )
    start: StrictBool = Field(default=False, description="Begin (or restart) the sequence.")
    end: StrictBool = Field(default=False, description="Forget the sequence after this request.")

    def step(
        self, version: str | None = None, key: str | None = None, owner: str = ""
    ) -> SequenceStep:
        return SequenceStep(self.id, self.start, self.end, version, key, owner)


class StreamStep(Strict):
    """A step of a WebSocket stream, as a text frame."""

    inputs: Inputs
    after: StrictInt | None = Field(
        default=None,
        ge=0,
        description="The steps this one follows: applied only to a sequence at exactly that "
        "many (default: those answered on this stream).",
    )
    end: StrictBool = Field(default=False, description="Forget the sequence after this step.")


class StreamObservations(Strict):
    """A step of a forecasting model's WebSocket stream, as a text frame."""

    series: Series
    after: StrictInt | None = Field(
        default=None, ge=0, description="The observations this one follows (as StreamStep's)."
    )
    end: StrictBool = Field(default=False, description="Forget the sequence after this step.")


class PredictRequest(Strict):
    inputs: Inputs
    initial_state: InitialState | None = None
    version: ModelVersion | None = Field(
        default=None, description="A served version of the model; default: the newest."
    )
    sequence: SequenceOptions | None = Field(
        default=None, description="Carry the hidden state on the server across requests."
    )


Level = Annotated[StrictInt, Field(ge=1, le=99)]
Quantile = Annotated[float, Field(gt=0, lt=1)]


class ForecastRequest(Strict):
    series: Series
    horizon: StrictInt = Field(ge=1, description="Steps to forecast after the last observation.")
    version: ModelVersion | None = Field(
        default=None, description="A served version of the model; default: the newest."
    )
    sequence: SequenceOptions | None = Field(
        default=None,
        description="Stream observations: start with a window, then send only new values.",
    )
    levels: list[Level] | None = Field(
        default=None,
        max_length=16,
        description="Prediction intervals to return, in percent (the model's calibrated "
        "levels: GET /v1/models/{name}).",
    )
    quantiles: list[Quantile] | None = Field(
        default=None,
        max_length=16,
        description="Quantiles to return: q and 1 - q bound the interval of level |2q - 1|; "
        "0.5 is the forecast.",
    )
    ids: list[StrictStr] | None = Field(
        default=None, description="A name per series: echoed in the answer and in errors."
    )
    start: StrictStr | list[StrictStr] | None = Field(
        default=None,
        description="ISO 8601 time of the first observation (one for all series, or one each); "
        "with freq, the answer carries each forecast step's timestamp.",
    )
    freq: Frequency | None = Field(default=None, description="The series' frequency (KServe's).")

    @model_validator(mode="after")
    def _consistent(self) -> ForecastRequest:
        count = len(self.series.rows)
        if self.ids is not None and len(self.ids) != count:
            raise ValueError(f"ids has {len(self.ids)} names for {count} series")
        if (self.start is None) != (self.freq is None):
            raise ValueError("start and freq go together: timestamps need both")
        if isinstance(self.start, list) and len(self.start) != count:
            raise ValueError(f"start has {len(self.start)} timestamps for {count} series")
        return self


class SequenceStatus(BaseModel):
    id: str
    steps: int = Field(description="Steps the sequence has consumed so far.")
    ended: bool


class PredictResponse(BaseModel):
    model: str
    version: str
    sequence: SequenceStatus | None = None
    outputs: list[list[list[float]]] = Field(description="(batch, steps, output)")
    state: list[list[float]] = Field(description="(batch, hidden)")


Values = list[float] | list[list[float]]


class FilledGaps(BaseModel):
    series: int
    positions: list[int]


class Interval(BaseModel):
    lower: Values
    upper: Values


class ForecastResponse(BaseModel):
    model: str
    version: str
    sequence: SequenceStatus | None = None
    forecasts: Values = Field(
        description="horizon values per series, nested like the request's series"
    )
    ids: list[str] | None = None
    timestamps: Values | None = Field(
        default=None, description="Each forecast step's time (with start and freq)."
    )
    filled: list[FilledGaps] | None = Field(
        default=None, description="The nulls interpolated, per series that had any."
    )
    intervals: dict[str, Interval] | None = Field(
        default=None, description="Per requested level: lower and upper bounds per step."
    )
    quantiles: dict[str, Values] | None = Field(
        default=None, description="Per requested quantile: its value per step."
    )


class ErrorDetail(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ErrorBody(BaseModel):
    error: str
    details: list[ErrorDetail] = Field(default_factory=list)
