"""KServe's time-series forecast protocol: ``POST /v1/timeseries/forecast`` and
``GET /v1/timeseries/models``, on the same engine as /v1 forecasts.

A KServe client's request works unchanged: ``model``, ``inputs`` (named univariate series with
a frequency and an optional ISO 8601 start), ``options`` (``horizon``, ``quantiles``). The
answer carries each series' ``mean_forecast``, its ``quantiles`` and the forecast's first
timestamp. Fields this service does not use are accepted and ignored, as KServe does.
"""

from __future__ import annotations

import time
import uuid

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from rnn_serve.service.engine.calls import ForecastCall
from rnn_serve.service.errors import InvalidInput
from rnn_serve.service.http.body import parse, validate
from rnn_serve.service.http.calendar import BeyondCalendar, Frequency, parse_start, steps_after
from rnn_serve.service.http.responses import json_response
from rnn_serve.service.http.routing import Call
from rnn_serve.service.http.tensors import as_finite

UNIVARIATE = "univariate_time_series"


class Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class SeriesInput(Open):
    type: str = Field(description="univariate_time_series (multivariate series are refused)")
    name: str
    series: list[float] | list[list[float]]
    frequency: Frequency
    start_timestamp: str | None = Field(default=None, description="ISO 8601")


class Options(Open):
    horizon: int = Field(ge=1)
    quantiles: list[float] | None = Field(default=None, max_length=16)


class TimeSeriesForecastRequest(Open):
    model: str
    inputs: list[SeriesInput] = Field(min_length=1)
    options: Options


def parse_request(raw: bytes) -> TimeSeriesForecastRequest:
    return validate(TimeSeriesForecastRequest, raw)


async def models(call: Call) -> Response:
    return json_response([model.name for model in call.engine.newest() if model.can_forecast])


async def forecast(call: Call) -> Response:
    engine = call.engine
    request = await parse(call.workers, parse_request, call.body)
    engine.model(request.model)  # an unknown model: a 404 before the series are read
    rows = [_univariate(index, item) for index, item in enumerate(request.inputs)]
    names = [item.name for item in request.inputs]
    found = await engine.forecast(
        ForecastCall(
            request.model,
            rows,
            request.options.horizon,
            ids=names,
            quantiles=request.options.quantiles,
        )
    )
    forecasts, extra = found.forecasts, found.quantiles
    content = [
        {
            "type": UNIVARIATE,
            "name": item.name,
            "mean_forecast": forecasts[index].tolist(),
            "frequency": item.frequency.value,
            "start_timestamp": _forecast_start(item, index),
            "quantiles": {q: values[index].tolist() for q, values in extra.items()} or None,
        }
        for index, item in enumerate(request.inputs)
    ]
    output = {"type": "forecast", "id": uuid.uuid4().hex, "status": "completed", "content": content}
    return json_response(
        {
            "id": uuid.uuid4().hex,
            "created_at": int(time.time()),
            "status": "completed",
            "model": found.model,
            "outputs": [output],
        }
    )


def _univariate(index: int, item: SeriesInput) -> np.ndarray:
    if item.type != UNIVARIATE or any(isinstance(v, list) for v in item.series):
        raise InvalidInput(
            f"inputs[{index}] ({item.name!r}) is {item.type}: this service forecasts "
            "univariate series",
            loc=["inputs", index, "type"],
            kind="unsupported",
        )
    values = np.asarray(item.series, dtype=np.float64)
    finite = as_finite(values, np.float64)
    if finite is None:
        position = int(np.flatnonzero(~np.isfinite(values))[0])
        raise InvalidInput(
            f"inputs[{index}] ({item.name!r}) has a value that is not finite at {position}",
            loc=["inputs", index, "series", position],
            kind="finite_number",
        )
    return finite


def _forecast_start(item: SeriesInput, index: int) -> str | None:
    """The timestamp of the first forecast step: the start plus one step per observation."""
    if item.start_timestamp is None:
        return None
    try:
        start = parse_start(item.start_timestamp)
    except ValueError as error:
        raise InvalidInput(
            f"inputs[{index}] ({item.name!r}): start_timestamp {item.start_timestamp!r} is not "
            "ISO 8601",
            loc=["inputs", index, "start_timestamp"],
            kind="datetime",
        ) from error
    try:
        return steps_after(start, item.frequency.value, len(item.series), 1)[0]
    except BeyondCalendar as error:
        raise InvalidInput(
            f"inputs[{index}] ({item.name!r}): start_timestamp: {error}",
            loc=["inputs", index, "start_timestamp"],
            kind="datetime",
        ) from None
