"""Open Inference Protocol (KServe v2) tensors, JSON and binary, to and from float32 arrays.

Binary tensor data extension: when the ``Inference-Header-Content-Length`` header is present,
the body is that many bytes of JSON followed by the raw tensors, in input order, each
``binary_data_size`` bytes, little-endian, row-major.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

import numpy as np
import orjson
from numpy.typing import NDArray
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from rnn_serve.contract.names import INITIAL_STATE, INPUTS
from rnn_serve.service.engine import Model
from rnn_serve.service.errors import MalformedRequest
from rnn_serve.service.http.body import is_count, parse_json
from rnn_serve.service.http.tensors import as_finite, to_array
from rnn_serve.service.http.validation import invalid

HEADER_LENGTH = "Inference-Header-Content-Length"
MAX_RANK = 8  # the models take rank 3 (inputs) and 2 (states); NumPy stops at 64


DATATYPES: dict[str, np.dtype[Any]] = {
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
    "FP16": np.dtype("<f2"),
}
Parameters = dict[str, Any]


def _no_parameters(value: Any) -> Any:
    return {} if value is None else value  # KServe's client sends "parameters": null


class RequestInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    shape: list[int]
    datatype: str
    parameters: Annotated[Parameters, BeforeValidator(_no_parameters)] = Field(default_factory=dict)
    data: list[Any] | None = None


class RequestOutput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    parameters: Annotated[Parameters, BeforeValidator(_no_parameters)] = Field(default_factory=dict)


class InferenceRequest(BaseModel):
    """The protocol's request. ``model_name`` and ``model_version`` may repeat the path's (KServe's
    client always sends the name); the handler refuses them when they differ."""

    model_config = ConfigDict(extra="forbid")
    id: str | None = None
    model_name: str | None = None
    model_version: str | None = None
    parameters: Annotated[Parameters, BeforeValidator(_no_parameters)] = Field(default_factory=dict)
    inputs: list[RequestInput] = Field(min_length=1)
    outputs: list[RequestOutput] | None = None


class BadRequest(MalformedRequest):
    """Every protocol error is a 400 with {"error": ...}, as Triton's clients expect."""


def decode_request(raw: bytes, header_length: str | None) -> tuple[InferenceRequest, bytes]:
    """The JSON part, validated, and the binary part (empty without the extension)."""
    if header_length is None:
        json_part, binary = raw, b""
    else:
        if not is_count(header_length) or int(header_length) > len(raw):
            raise BadRequest(
                f"{HEADER_LENGTH} is {header_length!r}, but the body has {len(raw)} bytes"
            )
        json_part, binary = raw[: int(header_length)], raw[int(header_length) :]
    try:
        request = InferenceRequest.model_validate(parse_json(json_part))
    except ValidationError as error:
        raise invalid(error, BadRequest, "invalid inference request: ") from None
    return request, binary


def decode_tensors(request: InferenceRequest, binary: bytes) -> dict[str, NDArray[np.float32]]:
    """Each input as a float32 array of its declared shape."""
    tensors: dict[str, NDArray[np.float32]] = {}
    offset = 0
    for tensor in request.inputs:
        if tensor.name in tensors:
            raise BadRequest(f"input '{tensor.name}' appears twice")
        dtype = tensor_dtype(tensor.name, tensor.datatype, tensor.shape)
        if "binary_data_size" in tensor.parameters:
            nbytes = _binary_size(tensor, dtype)
            if offset + nbytes > len(binary):
                raise BadRequest(
                    f"binary data is {len(binary)} bytes, too short for input '{tensor.name}' "
                    f"({nbytes} bytes from offset {offset})"
                )
            flat = np.frombuffer(binary, dtype, count=nbytes // dtype.itemsize, offset=offset)
            offset += nbytes
        else:
            flat = _json_data(tensor)
        tensors[tensor.name] = finite(tensor.name, flat, tensor.shape)
    if offset != len(binary):
        raise BadRequest(
            f"binary data is {len(binary)} bytes, but the inputs' binary_data_size add up to "
            f"{offset}"
        )
    return tensors


def tensor_dtype(name: str, datatype: str, shape: list[int]) -> np.dtype[Any]:
    """The dtype of an input as declared, its shape checked: the one check of every front end
    (JSON and binary here, gRPC in service/grpc/tensors.py)."""
    if datatype not in DATATYPES:
        raise BadRequest(
            f"input '{name}' has datatype {datatype}, expected FP32 "
            "(FP64 and FP16 are accepted and converted)"
        )
    if len(shape) > MAX_RANK:
        raise BadRequest(f"input '{name}' has {len(shape)} dimensions; at most {MAX_RANK}")
    if any(dim < 1 for dim in shape):
        raise BadRequest(f"input '{name}' has shape {shape}: sizes must be >= 1")
    return DATATYPES[datatype]


def finite(name: str, flat: NDArray[Any], shape: list[int]) -> NDArray[np.float32]:
    """``flat`` in ``shape`` as float32, or a 400 when any value is not finite there."""
    array = as_finite(flat.reshape(shape))
    if array is None:
        raise BadRequest(f"input '{name}' holds NaN or infinite values (as float32)")
    return array


def model_inputs(model: Model, tensors: dict[str, Any]) -> tuple[Any, Any]:
    """The model's inputs and initial state among the request's tensors, by name; their
    shapes are the engine's to check, as for every front end."""
    known = [spec.name for spec in model.predictor.signature.inputs]
    for tensor_name in tensors:
        if tensor_name not in known:
            raise BadRequest(
                f"unknown input '{tensor_name}'; model '{model.name}' takes "
                + ", ".join(f"'{name}'" for name in known)
            )
    if INPUTS not in tensors:
        raise BadRequest(f"missing input '{INPUTS}' for model '{model.name}'")
    return tensors[INPUTS], tensors.get(INITIAL_STATE)


def _binary_size(tensor: RequestInput, dtype: np.dtype[Any]) -> int:
    declared = tensor.parameters["binary_data_size"]
    expected = math.prod(tensor.shape) * dtype.itemsize
    if declared != expected:
        raise BadRequest(
            f"input '{tensor.name}' has binary_data_size {declared}, but shape {tensor.shape} "
            f"of {tensor.datatype} takes {expected} bytes"
        )
    return expected


def _json_data(tensor: RequestInput) -> NDArray[np.floating[Any]]:
    if tensor.data is None:
        raise BadRequest(f"input '{tensor.name}' has neither data nor binary_data_size")
    try:
        flat = to_array(tensor.data, f"input '{tensor.name}' data", 1, dtype=np.float64)
    except ValueError as error:  # pydantic's custom errors are ValueErrors
        raise BadRequest(str(error)) from None
    if flat.size != math.prod(tensor.shape):
        raise BadRequest(
            f"input '{tensor.name}' has {flat.size} values in data, but shape {tensor.shape} "
            f"holds {math.prod(tensor.shape)}"
        )
    return flat


def encode_response(
    header: dict[str, Any], results: dict[str, NDArray[np.float32]], request: InferenceRequest
) -> tuple[bytes, int | None]:
    """The body, and the JSON length to send as Inference-Header-Content-Length when any output
    is binary (None when the answer is plain JSON)."""
    outputs, blobs = [], []
    for requested, binary in _wanted(request, list(results)):
        if requested.name not in results:
            raise BadRequest(
                f"unknown output '{requested.name}'; the model has {', '.join(map(repr, results))}"
            )
        array = np.ascontiguousarray(results[requested.name], dtype="<f4")
        entry: dict[str, Any] = {"name": requested.name, "datatype": "FP32", "shape": array.shape}
        if binary:
            blobs.append(array.tobytes())
            entry["parameters"] = {"binary_data_size": len(blobs[-1])}
        else:
            entry["data"] = array.ravel()
        outputs.append(entry)
    body = orjson.dumps(header | {"outputs": outputs}, option=orjson.OPT_SERIALIZE_NUMPY)
    if not blobs:
        return body, None
    return b"".join([body, *blobs]), len(body)


def any_json_output(request: InferenceRequest, names: list[str]) -> bool:
    """Whether any output is answered as JSON numbers rather than binary."""
    return any(not binary for _, binary in _wanted(request, names))


def _wanted(request: InferenceRequest, names: list[str]) -> list[tuple[RequestOutput, bool]]:
    """The outputs asked for (all by default), each with whether it goes back binary."""
    binary_default = bool(request.parameters.get("binary_data_output", False))
    wanted = request.outputs or [RequestOutput(name=name) for name in names]
    return [
        (requested, bool(requested.parameters.get("binary_data", binary_default)))
        for requested in wanted
    ]
