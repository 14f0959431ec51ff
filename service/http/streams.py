"""WebSocket streams of one sequence: ``/v1/models/{name}/sequences/{id}/stream``.

A client opens the stream (``?start=true`` begins the sequence, ``?version=`` names a model
version) and the server says ``{"type": "ready", ...}``: the steps the sequence has consumed
and the client's ``credits``, the steps it may send ahead of their answers. Then each step is
a frame:

- text: ``{"inputs": [[[...]]], "after": n, "end": true}``, inputs as /v1's (sequences,
  steps, features); ``after`` (optional) the steps it follows, ``end`` forgets the sequence
  after it;
- binary: little-endian float32 inputs of one sequence, steps x features, row by row.

A forecasting model's stream names its horizon (``?horizon=4``) and its steps are raw
observations: ``{"series": [...], "after": n, "end": true}`` (the first one a window at least
as long as the model's), or binary float32 values of one series.

Each is answered in order: ``{"type": "outputs", "steps": n, "outputs": [...]}`` (or
``"forecasts"``; for a binary frame, a binary frame of float32 outputs or forecasts), or
``{"type": "error", "status": 422, "error": ..., "details": [...]}``, which applies nothing,
and the stream goes on. A step applies only right
after the steps it follows (``after``; by default those answered on this stream), so a client
that reconnects, learns from "ready" how far the sequence got, and sends again what it had no
answer for loses nothing and applies nothing twice. The engine's InOrder runs the steps.

Close codes: 1000 after a step that ends the sequence; 1008 past the credits; 1009 a frame past
RNN_SERVE_STREAM_MAX_FRAME_BYTES; 4408 nothing for RNN_SERVE_STREAM_IDLE_TIMEOUT_S; 4000 plus
the HTTP status when the sequence or its model is gone (4404, 4410). Before the upgrade an
unknown model or sequence, or a missing API key, is an HTTP answer, as on every route.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import numpy as np
import orjson
from starlette.types import Receive, Scope, Send

from rnn_serve.service.engine import Engine, InOrder, Model, Overrun
from rnn_serve.service.engine.calls import (
    Forecast,
    ForecastCall,
    PredictCall,
    Prediction,
    SequenceStep,
)
from rnn_serve.service.errors import InvalidInput, NotReady, SequenceNotFound, ServeError
from rnn_serve.service.http.body import validate
from rnn_serve.service.http.errors import render
from rnn_serve.service.http.middleware import STREAM_PROTOCOL
from rnn_serve.service.http.schemas import StreamObservations, StreamStep
from rnn_serve.service.http.tensors import as_finite

ROUTE = "/v1/models/{name}/sequences/{id}/stream"
PATH = re.compile(r"/v1/models/(?P<name>[^/]+)/sequences/(?P<id>[^/]+)/stream")
FATAL = frozenset({404, 410})  # nothing more can apply: the stream closes with 4000 + status
MAX_REASON = 123  # bytes of a close frame's reason


@dataclass(slots=True)
class Frame:
    data: bytes | str
    arrived: float
    flat: bool = False  # one flat series of observations: its forecasts are one flat list


class Closing(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


async def serve(scope: Scope, receive: Receive, send: Send, state: Any) -> None:
    engine: Engine | None = getattr(state, "engine", None)
    if engine is None:
        await render(NotReady("the service is starting: models are not loaded yet"))(
            scope, receive, send
        )
        return
    name, sequence = scope["path_params"]["name"], scope["path_params"]["id"]
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    version = query.get("version", [None])[-1]
    start = query.get("start", ["false"])[-1].lower() == "true"
    first = SequenceStep(sequence, start, version=version, owner=scope.get("owner", ""))
    try:
        model = engine.model(name, version)
        horizon = _horizon(query.get("horizon", [None])[-1], model.can_forecast)
        found = (0, model.version) if start else await engine.sequence(model.name, first)
        if found is None:
            raise SequenceNotFound(
                f"sequence {sequence!r} of model {model.name!r} is unknown or has expired; "
                "begin it with ?start=true"
            )
        steps, runs_on = found
    except ServeError as error:
        await render(error)(scope, receive, send)  # refused before the upgrade
        return
    if (await receive())["type"] != "websocket.connect":
        return
    accepted = STREAM_PROTOCOL if STREAM_PROTOCOL in scope.get("subprotocols", ()) else None
    await send({"type": "websocket.accept", "subprotocol": accepted})
    settings = state.settings
    stream = _Stream(engine, state.metrics, model, horizon, first, steps)
    steps_in: InOrder[Frame, Prediction | Forecast] = InOrder(stream.step, settings.stream_credits)
    await send(
        _text(
            {
                "type": "ready",
                "model": model.name,
                "version": runs_on or model.version,
                "sequence": sequence,
                "steps": steps,
                "credits": settings.stream_credits,
            }
        )
    )
    reader = asyncio.get_running_loop().create_task(
        _read(receive, steps_in, settings.stream_max_frame_bytes, settings.stream_idle_timeout_s)
    )
    closing: Closing | None = None
    try:
        async for frame, answer in steps_in.answers():
            await send(stream.answer(frame, answer))
            if isinstance(answer, ServeError) and answer.status_code in FATAL:
                raise Closing(4000 + answer.status_code, answer.message)
            if stream.ended:
                raise Closing(1000, f"sequence {sequence!r} ended")
        closing = reader.result()  # done: it ended the steps
    except Closing as fatal:
        closing = fatal
    except OSError:  # the client went away while answers were on their way
        return
    finally:
        reader.cancel()
    if closing is not None:
        reason = closing.reason.encode()[:MAX_REASON].decode(errors="ignore")
        await send({"type": "websocket.close", "code": closing.code, "reason": reason})


def _horizon(asked: str | None, can_forecast: bool) -> int | None:
    """A forecasting stream's horizon (None: a stream of per-step predictions)."""
    if asked is None:
        return None
    if not can_forecast:
        raise InvalidInput("this model does not forecast: open its stream without ?horizon")
    if not (asked.isascii() and asked.isdigit() and int(asked) > 0):
        raise InvalidInput(f"?horizon must be a positive whole number, not {asked!r}")
    return int(asked)


async def _read(
    receive: Receive, steps: InOrder[Frame, Any], max_bytes: int, idle_s: float
) -> Closing | None:
    """The client's frames into ``steps`` until it leaves (None), or a rule of the stream is
    broken: how the stream then closes."""
    try:
        while True:
            try:
                async with asyncio.timeout(idle_s):
                    event = await receive()
            except TimeoutError:
                return Closing(4408, f"nothing for {idle_s:g} s (RNN_SERVE_STREAM_IDLE_TIMEOUT_S)")
            if event["type"] == "websocket.disconnect":
                return None
            data = event.get("bytes")
            if data is None:
                data = event.get("text") or ""
            if len(data) > max_bytes:
                return Closing(
                    1009,
                    f"a frame of {len(data)} bytes is past the limit of "
                    f"{max_bytes} (RNN_SERVE_STREAM_MAX_FRAME_BYTES)",
                )
            try:
                steps.offer(Frame(data, time.perf_counter()))
            except Overrun as overrun:
                return Closing(1008, f"{overrun} (credits: {steps.window})")
    finally:
        steps.end()


class _Stream:
    """One stream's sequence: where it stands, and its steps run and answered."""

    def __init__(
        self,
        engine: Engine,
        metrics: Any,
        model: Model,
        horizon: int | None,  # a forecasting stream's; None: per-step predictions
        step: SequenceStep,  # the stream's sequence, as the first step names it
        steps: int,
    ) -> None:
        self.engine, self.metrics, self.model, self.horizon = engine, metrics, model.name, horizon
        self.features = model.predictor.signature.features
        self.sequence, self.version, self.owner = step.id, step.version, step.owner
        self.starting, self.steps, self.ended = step.start, steps, False

    async def step(self, frame: Frame) -> Prediction | Forecast:
        if self.horizon is None:
            inputs, after, end = self._decode(frame.data)
        else:
            rows, after, end, frame.flat = self._observations(frame.data)
        step = SequenceStep(
            self.sequence,
            self.starting,
            end,
            self.version,
            None,
            self.owner,
            self.steps if after is None else after,
        )
        admitted = self.engine.admit(len(frame.data))
        try:
            if self.horizon is None:
                call = PredictCall(self.model, inputs, None, self.version, step)
                found: Prediction | Forecast = await self.engine.predict(call)
            else:
                at = ForecastCall(self.model, rows, self.horizon, self.version, sequence=step)
                found = await self.engine.forecast(at)
        finally:
            admitted.leave()
        self.starting, self.ended = False, end
        self.steps = found.steps or 0  # a sequence's answer has them
        return found

    def answer(self, frame: Frame, found: Prediction | Forecast | ServeError) -> dict[str, Any]:
        status = found.status_code if isinstance(found, ServeError) else 200
        self.metrics.http.record(
            ROUTE, self.model, status, time.perf_counter() - frame.arrived, "websocket"
        )
        if isinstance(found, ServeError):
            return _text(
                {
                    "type": "error",
                    "status": status,
                    "error": found.message,
                    "details": found.details,
                }
            )
        kind, values = (
            ("outputs", found.outputs)
            if isinstance(found, Prediction)
            else ("forecasts", found.forecasts)
        )
        if isinstance(frame.data, bytes):
            return {"type": "websocket.send", "bytes": np.asarray(values, "<f4").tobytes()}
        return _text(
            {"type": kind, "steps": found.steps, kind: values[0] if frame.flat else values}
        )

    def _observations(self, data: bytes | str) -> tuple[list[Any], int | None, bool, bool]:
        if isinstance(data, str):
            step = validate(StreamObservations, data.encode())
            return step.series.rows, step.after, step.end, not step.series.nested
        if not data or len(data) % 4:
            raise InvalidInput(
                f"a binary frame is float32 values (4 bytes each); this one has {len(data)} bytes",
                loc=["frame"],
            )
        values = as_finite(np.frombuffer(data, "<f4"), np.float64)
        if values is None:
            raise InvalidInput("a binary frame holds a value that is not finite", loc=["frame"])
        return [values], None, False, True

    def _decode(self, data: bytes | str) -> tuple[np.ndarray[Any, Any], int | None, bool]:
        if isinstance(data, str):
            step = validate(StreamStep, data.encode())
            return step.inputs, step.after, step.end
        width = 4 * self.features
        if not data or len(data) % width:
            raise InvalidInput(
                f"a binary frame is float32 steps of {self.features} features ({width} bytes "
                f"a step); this one has {len(data)} bytes",
                loc=["frame"],
            )
        inputs = as_finite(np.frombuffer(data, "<f4").reshape(1, -1, self.features))
        if inputs is None:
            raise InvalidInput("a binary frame holds a value that is not finite", loc=["frame"])
        return inputs, None, False


def _text(message: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "websocket.send",
        "text": orjson.dumps(message, option=orjson.OPT_SERIALIZE_NUMPY).decode(),
    }
