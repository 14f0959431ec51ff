"""/v2: the Open Inference Protocol (KServe v2), with the binary tensor data extension."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from service import __version__
from service.api.body import Body, off_loop_if_large, read_request
from service.api.deps import DataPlaneDep
from service.api.oip import (
    HEADER_LENGTH,
    BadRequest,
    InferenceRequest,
    decode_request,
    decode_tensors,
    encode_response,
)
from service.api.openapi import error_responses, json_body
from service.api.responses import json_response
from service.dataplane import DataPlane
from service.errors import InvalidInput, ModelNotFound, SequenceNotFound
from service.inference.predictor import INITIAL_STATE, INPUTS
from service.inference.registry import ServedModel
from service.sequences import SequenceSpec

router = APIRouter(prefix="/v2", tags=["v2"])
MODEL = "/models/{name}"
VERSIONED = "/models/{name}/versions/{version}"
EXTENSIONS = ["binary_tensor_data", "sequence"]


@router.get("", summary="Server metadata and supported extensions")
async def server_metadata() -> Response:
    return json_response({"name": "rnn-serve", "version": __version__, "extensions": EXTENSIONS})


@router.get(MODEL, summary="Model metadata", responses=error_responses(404))
@router.get(VERSIONED, summary="Model metadata", responses=error_responses(404))
async def model_metadata(
    name: str, dataplane: DataPlaneDep, version: str | None = None
) -> Response:
    model = _model(dataplane, name, version)
    sig = model.predictor.signature
    return json_response(
        {
            "name": model.name,
            "versions": [model.version],
            "platform": "onnxruntime_onnx",
            "inputs": [spec.describe() for spec in sig.inputs],
            "outputs": [spec.describe() for spec in sig.outputs],
        }
    )


@router.get(f"{MODEL}/ready", summary="Model readiness", responses=error_responses(404))
@router.get(f"{VERSIONED}/ready", summary="Model readiness", responses=error_responses(404))
async def model_ready(name: str, dataplane: DataPlaneDep, version: str | None = None) -> Response:
    model = _model(dataplane, name, version)
    return json_response({"name": model.name, "ready": True})


INFER: dict[str, Any] = {
    "summary": "Inference: JSON tensors, or binary ones with Inference-Header-Content-Length",
    "responses": error_responses(400, 404, 413, 503, 504),
    "openapi_extra": json_body(InferenceRequest),
}


@router.post(f"{MODEL}/infer", **INFER)
@router.post(f"{VERSIONED}/infer", **INFER)
async def infer(
    name: str, request: Request, dataplane: DataPlaneDep, version: str | None = None
) -> Response:
    return await handle_infer(dataplane, await read_request(request, dataplane), name, version)


async def handle_infer(
    dataplane: DataPlane, body: Body, name: str, version: str | None = None
) -> Response:
    """Shared by the route above and the fast path (fastpath.py)."""
    model = _model(dataplane, name, version)
    header_length = body.headers.get(HEADER_LENGTH)
    infer_request, tensors = await off_loop_if_large(
        dataplane, len(body.raw), _decode, body.raw, header_length
    )
    inputs, initial_state = _model_inputs(model, tensors)
    sequence = _sequence(infer_request.parameters)
    try:
        if sequence is None:
            outputs, state = await dataplane.predict(model, inputs, initial_state)
        else:
            outputs, state, _ = await dataplane.sequences.predict(
                model, sequence, inputs, initial_state
            )
    except (InvalidInput, SequenceNotFound) as error:  # the protocol's errors are all 400
        raise BadRequest(error.message) from None
    header = {"model_name": model.name, "model_version": model.version}
    if infer_request.id is not None:
        header["id"] = infer_request.id
    content, json_length = encode_response(
        header, {"outputs": outputs, "state": state}, infer_request
    )
    if json_length is None:
        return Response(content, media_type="application/json")
    return Response(
        content, media_type="application/octet-stream", headers={HEADER_LENGTH: str(json_length)}
    )


def _sequence(parameters: dict[str, Any]) -> SequenceSpec | None:
    """Triton's sequence extension: sequence_id (0 or "" for none), sequence_start/_end."""
    sequence_id = parameters.get("sequence_id")
    if sequence_id in (None, 0, ""):
        return None
    flags = {key: parameters.get(f"sequence_{key}", False) for key in ("start", "end")}
    if isinstance(sequence_id, bool) or not isinstance(sequence_id, int | str):
        raise BadRequest(f"sequence_id must be an integer or a string, got {sequence_id!r}")
    for key, value in flags.items():
        if not isinstance(value, bool):
            raise BadRequest(f"sequence_{key} must be true or false, got {value!r}")
    return SequenceSpec(id=str(sequence_id), **flags)


def _decode(raw: bytes, header_length: str | None) -> tuple[InferenceRequest, dict[str, Any]]:
    infer_request, binary = decode_request(raw, header_length)
    return infer_request, decode_tensors(infer_request, binary)


def _model(dataplane: DataPlane, name: str, version: str | None) -> ServedModel:
    model = dataplane.model(name)
    if version is not None and version != model.version:
        raise ModelNotFound(
            f"model {name!r} has no version {version!r}; available: {model.version!r}"
        )
    return model


def _model_inputs(model: ServedModel, tensors: dict[str, Any]) -> tuple[Any, Any]:
    """Names and shapes against the graph's inputs, -1 matching any size."""
    specs = {spec.name: spec for spec in model.predictor.signature.inputs}
    for tensor_name, array in tensors.items():
        spec = specs.get(tensor_name)
        if spec is None:
            raise BadRequest(
                f"unknown input '{tensor_name}'; model '{model.name}' takes "
                + ", ".join(f"'{known}'" for known in specs)
            )
        expected = list(spec.shape)
        if len(array.shape) != len(expected) or any(
            want not in (-1, got) for want, got in zip(expected, array.shape, strict=True)
        ):
            raise BadRequest(
                f"input '{tensor_name}' has shape {list(array.shape)}, expected {expected}"
            )
    if INPUTS not in tensors:
        raise BadRequest(f"missing input '{INPUTS}' for model '{model.name}'")
    return tensors[INPUTS], tensors.get(INITIAL_STATE)
