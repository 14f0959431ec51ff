"""The Open Inference Protocol's model repository extension, as Triton serves it: the index of
every model and version with its state, and loading and unloading models while serving."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictBool
from starlette.responses import Response

from service.errors import InvalidInput
from service.http.body import validate
from service.http.oip import BadRequest
from service.http.responses import json_response
from service.http.routing import Call


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
    found = call.engine.models.index()
    if request.ready:
        found = [entry for entry in found if entry["state"] == "READY"]
    return json_response(found)


async def load(call: Call) -> Response:
    _change_request(call.body)
    await call.engine.models.load(call.params["name"])
    return json_response({})


async def unload(call: Call) -> Response:
    _change_request(call.body)
    await call.engine.models.unload(call.params["name"])
    return json_response({})


def _change_request(raw: bytes) -> None:
    request = _validated(ChangeRequest, raw)
    for name in request.parameters:
        if name == UNSUPPORTED or name.startswith("file:"):
            raise BadRequest(
                f"parameters.{name}: loading a model from files or a config sent in the "
                "request is not supported; put its versions in the model directory",
                loc=["parameters", name],
            )
