"""/v2: the Open Inference Protocol (KServe v2), with the binary tensor data extension."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from pydantic import ValidationError
from starlette.responses import Response

from rnn_serve.service import __version__
from rnn_serve.service.engine import Engine, Model
from rnn_serve.service.engine.calls import PredictCall, SequenceStep
from rnn_serve.service.errors import AlreadyApplied, InvalidInput, SequenceEnded, SequenceNotFound
from rnn_serve.service.http.body import is_count, parse
from rnn_serve.service.http.oip import (
    HEADER_LENGTH,
    BadRequest,
    InferenceRequest,
    any_json_output,
    decode_request,
    decode_tensors,
    encode_response,
    model_inputs,
)
from rnn_serve.service.http.responses import INLINE_ANSWER_NUMBERS, json_response
from rnn_serve.service.http.routing import Call
from rnn_serve.service.http.schemas import SequenceOptions
from rnn_serve.service.http.validation import invalid

Decoded = tuple[InferenceRequest, dict[str, Any]]
EXTENSIONS = ["binary_tensor_data", "sequence", "model_repository"]
# Triton's sequence extension spells the fields of SequenceOptions like this.
RECURRENT_METADATA = ("cells", "num_layers", "state_size", "state_layout")
SEQUENCE_PARAMETERS = {"id": "sequence_id", "start": "sequence_start", "end": "sequence_end"}


async def server_metadata(call: Call) -> Response:
    return json_response({"name": "rnn-serve", "version": __version__, "extensions": EXTENSIONS})


async def model_metadata(call: Call) -> Response:
    described = call.engine.describe(call.params["name"], call.params.get("version"))
    return json_response(
        {
            "name": described["name"],
            "versions": described["versions"],
            "platform": "onnxruntime_onnx",
            "inputs": described["inputs"],
            "outputs": described["outputs"],
            # Beyond the protocol's fields, what a client needs to build or read a state.
            "parameters": {key: described[key] for key in RECURRENT_METADATA},
        }
    )


async def model_ready(call: Call) -> Response:
    model = _model(call.engine, call.params)
    return json_response({"name": model.name, "ready": True})


async def infer(call: Call) -> Response:
    engine = call.engine
    model = _model(engine, call.params)
    header_length = call.headers.get(HEADER_LENGTH)
    request, tensors = await parse(
        call.workers, _decoder(header_length), call.body, _json_size(call)
    )
    version = _version(request, model.name, call.params.get("version"))
    inputs, initial_state = model_inputs(model, tensors)
    # On a sequence, the request's id is its idempotency key (Triton's clients send one).
    sequence = _sequence(request.parameters, version, request.id, call.owner)
    ask = PredictCall(model.name, inputs, initial_state, version, sequence)
    try:
        found = await engine.predict(ask)
    except (InvalidInput, SequenceNotFound, SequenceEnded, AlreadyApplied) as error:
        # the protocol answers every bad request with 400
        raise BadRequest(error.message, error.details) from None
    header = {"model_name": found.model, "model_version": found.version}
    if request.id is not None:
        header["id"] = request.id
    results = {"outputs": found.outputs, "state": found.state}
    if found.outputs.size > INLINE_ANSWER_NUMBERS and any_json_output(request, list(results)):
        encoded = await call.workers.run(encode_response, header, results, request)
    else:
        encoded = encode_response(header, results, request)
    content, json_length = encoded
    if json_length is None:
        return Response(content, media_type="application/json")
    return Response(
        content, media_type="application/octet-stream", headers={HEADER_LENGTH: str(json_length)}
    )


def _version(request: InferenceRequest, name: str, version: str | None) -> str | None:
    """The version the path names, or else the body's ``model_version``; a body whose
    ``model_name`` or ``model_version`` differs from the path's is a 400 naming both."""
    if request.model_name not in (None, name):
        raise BadRequest(
            f"model_name '{request.model_name}' in the body differs from the path's '{name}'"
        )
    if version is not None and request.model_version not in (None, version):
        raise BadRequest(
            f"model_version '{request.model_version}' in the body differs from the path's "
            f"'{version}'"
        )
    return version or request.model_version


def _sequence(
    parameters: dict[str, Any], version: str | None, key: str | None, owner: str
) -> SequenceStep | None:
    """Triton's sequence extension: sequence_id (0 or "" for none), sequence_start/_end."""
    if parameters.get("sequence_id") in (None, 0, ""):
        return None
    fields = {
        field: parameters[name] for field, name in SEQUENCE_PARAMETERS.items() if name in parameters
    }
    try:
        return SequenceOptions.model_validate(fields).step(version, key, owner)
    except ValidationError as error:
        raise invalid(error, BadRequest, names=SEQUENCE_PARAMETERS) from None


def _json_size(call: Call) -> int:
    """The bytes of the body that are JSON: with binary tensors, the header's length only
    (reading the tensors is a copy, cheap on the event loop)."""
    declared = call.headers.get(HEADER_LENGTH, "")
    return min(int(declared), len(call.body)) if is_count(declared) else len(call.body)


def _decoder(header_length: str | None) -> Callable[[bytes], Decoded]:
    """The body's parser (a partial, which pickles for a worker process)."""
    return partial(_decode, header_length=header_length)


def _decode(raw: bytes, header_length: str | None) -> Decoded:
    """The JSON part, then the tensors, binary or not."""
    request, binary = decode_request(raw, header_length)
    return request, decode_tensors(request, binary)


def _model(engine: Engine, params: dict[str, str]) -> Model:
    return engine.model(params["name"], params.get("version"))
