"""The Open Inference Protocol's model repository extension, as Triton serves it: the index of
every model and version with its state, and loading and unloading models while serving."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictBool
from starlette.responses import Response

from rnn_serve.service.errors import Forbidden, InvalidInput
from rnn_serve.service.http.body import validate
from rnn_serve.service.http.oip import BadRequest
from rnn_serve.service.http.responses import json_response
from rnn_serve.service.http.routing import Call


class IndexRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ready: StrictBool = Field(default=False, description="Only the versions ready to serve.")


class ChangeRequest(BaseModel):
    """What tritonclient sends with load and unload; overriding a model's files or config in
    the request (Triton's ``config`` and ``file:`` parameters) is not supported."""

    model_config = ConfigDict(extra="forbid")
    parameters: dict[str, Any] = Field(default_factory=dict)


UNSUPPORTED = "config"  # and every "file:..." parameter
M = TypeVar("M", bound=BaseModel)


def _validated(model: type[M], raw: bytes) -> M:
    """An empty body is the defaults; errors are 400s, as everywhere in /v2."""
    try:
        return validate(model, raw or b"{}")
    except InvalidInput as error:
        raise BadRequest(error.message, error.details) from None


async def index(call: Call) -> Response:
    request = _validated(IndexRequest, call.body)
    found = call.engine.index()
    if request.ready:
        found = [entry for entry in found if entry["state"] == "READY"]
    return json_response(found)


async def load(call: Call) -> Response:
    _change_request(call)
    await call.engine.load(call.params["name"])
    return json_response({})


async def unload(call: Call) -> Response:
    _change_request(call)
    await call.engine.unload(call.params["name"])
    return json_response({})


def _change_request(call: Call) -> None:
    """Refused from another site's web page (a browser names the page's origin; API clients
    send none), and with parameters this server does not take. Whether models may change at
    all is the engine's to say (RNN_SERVE_MODEL_CONTROL)."""
    origin = call.headers.get("origin")
    if origin is not None and origin.partition("://")[2] != call.headers.get("host"):
        raise Forbidden(f"a page of another origin ({origin}) may not load or unload models")
    request = _validated(ChangeRequest, call.body)
    for name in request.parameters:
        if name == UNSUPPORTED or name.startswith("file:"):
            raise BadRequest(
                f"parameters.{name}: loading a model from files or a config sent in the "
                "request is not supported; put its versions in the model directory",
                loc=["parameters", name],
            )
