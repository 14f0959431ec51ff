"""/v1: model metadata, per-step predictions and forecasts, in plain JSON."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray
from starlette.responses import Response

from rnn_serve.service.engine.calls import Forecast, ForecastCall, PredictCall, SequenceStep
from rnn_serve.service.errors import InvalidInput
from rnn_serve.service.http.body import parse, validate
from rnn_serve.service.http.calendar import BeyondCalendar, parse_start, steps_after
from rnn_serve.service.http.inputs_only import inputs_only
from rnn_serve.service.http.responses import json_answer, json_response
from rnn_serve.service.http.routing import Call
from rnn_serve.service.http.schemas import ForecastRequest, PredictRequest, SequenceOptions

IDEMPOTENCY_KEY, REPLAYED, MAX_KEY_LENGTH = "Idempotency-Key", "Idempotent-Replayed", 256


async def list_models(call: Call) -> Response:
    engine = call.engine
    models = [engine.describe(model.name) for model in engine.newest()]
    return json_response({"models": models} | await engine.status())


async def model_metadata(call: Call) -> Response:
    engine = call.engine
    return json_response(engine.describe(call.params["name"]) | await engine.status())


async def predict(call: Call) -> Response:
    engine, name = call.engine, call.params["name"]
    engine.model(name)  # an unknown model: a 404 before parsing the body
    payload = await parse(call.workers, parse_predict, call.body)
    step = None if payload.sequence is None else _step(call, payload.sequence, payload.version)
    found = await engine.predict(
        PredictCall(name, payload.inputs, payload.initial_state, payload.version, step)
    )
    answer: dict[str, Any] = {"model": found.model, "version": found.version}
    if payload.sequence is not None:
        answer["sequence"] = _status(payload.sequence, found.steps)
    answer |= {"outputs": found.outputs, "state": found.state}
    return await _answered(call, answer, found.replayed)


async def forecast(call: Call) -> Response:
    engine, name = call.engine, call.params["name"]
    engine.model(name)
    payload = await parse(call.workers, parse_forecast, call.body)
    horizon = payload.horizon
    timestamps = _timestamps(payload, horizon) if payload.start is not None else None
    found = await engine.forecast(
        ForecastCall(
            name,
            payload.series.rows,
            horizon,
            payload.version,
            payload.ids,
            payload.levels,
            payload.quantiles,
            _step(call, payload.sequence, payload.version),
        )
    )
    return await _answered(call, _forecast_answer(payload, found, timestamps), found.replayed)


def _forecast_answer(
    payload: ForecastRequest, found: Forecast, timestamps: list[list[str]] | None
) -> dict[str, Any]:
    """The forecast in the request's shape (one flat series in, one row out), with what it
    asked for beside it."""
    shaped = _like_request(payload.series.nested)
    answer: dict[str, Any] = {"model": found.model, "version": found.version}
    if payload.sequence is not None:
        answer["sequence"] = _status(payload.sequence, found.steps)
    answer["forecasts"] = shaped(found.forecasts)
    if payload.ids is not None:
        answer["ids"] = payload.ids
    if timestamps is not None:
        answer["timestamps"] = shaped(timestamps)
    if payload.series.filled:
        answer["filled"] = [
            {"series": index, "positions": positions}
            for index, positions in payload.series.filled.items()
        ]
    if found.intervals:
        answer["intervals"] = {
            level: {"lower": shaped(lower), "upper": shaped(upper)}
            for level, (lower, upper) in found.intervals.items()
        }
    if found.quantiles:
        answer["quantiles"] = {q: shaped(values) for q, values in found.quantiles.items()}
    return answer


def _step(call: Call, options: SequenceOptions | None, version: str | None) -> SequenceStep | None:
    """The request's place in its sequence, under its idempotency key and its owner."""
    if options is None:
        return None
    return options.step(version, _idempotency_key(call), call.owner)


def _idempotency_key(call: Call) -> str | None:
    """The ``Idempotency-Key`` header of a sequence request: printable, at most 256 long."""
    key = call.headers.get(IDEMPOTENCY_KEY)
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isprintable():
        raise InvalidInput(
            f"{IDEMPOTENCY_KEY} must be 1 to {MAX_KEY_LENGTH} printable characters",
            loc=["header", IDEMPOTENCY_KEY],
        )
    return key


async def _answered(call: Call, answer: dict[str, Any], replayed: bool) -> Response:
    """A stored answer says so: its steps were applied by the first request with its key."""
    response = await json_answer(call.workers, answer)
    if replayed:
        response.headers[REPLAYED] = "true"
    return response


def _timestamps(payload: ForecastRequest, horizon: int) -> list[list[str]]:
    """Per series, the times of its forecast steps: after its start, one step per value."""
    rows = payload.series.rows
    starts = payload.start if isinstance(payload.start, list) else [payload.start] * len(rows)
    frequency = payload.freq.value  # type: ignore[union-attr]
    found = []
    for index, (start, values) in enumerate(zip(starts, rows, strict=True)):
        loc: list[str | int] = ["start", index] if isinstance(payload.start, list) else ["start"]
        try:
            first = parse_start(str(start))
        except ValueError as error:
            raise InvalidInput(
                f"start {start!r} is not an ISO 8601 time", loc=loc, kind="datetime"
            ) from error
        try:
            found.append(steps_after(first, frequency, len(values), horizon))
        except BeyondCalendar as error:
            raise InvalidInput(f"start: {error}", loc=loc, kind="datetime") from None
    return found


def _like_request(nested: bool) -> Any:
    """Per-series rows, or the one row when the request sent one flat series."""
    return (lambda rows: rows) if nested else (lambda rows: rows[0])


class Predict(NamedTuple):
    """A valid predict request, as the handler reads it. Building a PredictRequest costs more
    than the rest of a small body's checks; a body of inputs alone never builds one."""

    inputs: NDArray[np.float32]
    initial_state: NDArray[np.float32] | None = None
    version: str | None = None
    sequence: SequenceOptions | None = None


def parse_predict(raw: bytes) -> Predict:
    """A body of inputs alone, the most common, is read from its bytes (inputs_only.py),
    without the request model. Any other body, or one that does not fit that shortcut, takes
    the full path, which names what is wrong."""
    inputs = inputs_only(raw)
    if inputs is not None:  # nothing else in the body: nothing else to validate
        return Predict(inputs)
    request = validate(PredictRequest, raw)
    return Predict(request.inputs, request.initial_state, request.version, request.sequence)


def parse_forecast(raw: bytes) -> ForecastRequest:
    return validate(ForecastRequest, raw)


def _status(options: SequenceOptions, seen: int | None) -> dict[str, Any]:
    return {"id": options.id, "steps": seen, "ended": options.end}
