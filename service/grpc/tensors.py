"""The Open Inference Protocol's tensors over gRPC, to and from float32 arrays: raw contents
(``raw_input_contents``, little-endian, row-major, one per input in order) or typed
(``contents.fp32_contents``...), as tritonclient and KServe's client send them."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from rnn_serve.service.errors import MalformedRequest
from rnn_serve.service.grpc.proto import grpc_service_pb2 as pb
from rnn_serve.service.http.oip import finite, tensor_dtype

TYPED = {"FP32": "fp32_contents", "FP64": "fp64_contents"}


def decode(request: pb.ModelInferRequest) -> dict[str, NDArray[np.float32]]:
    """Each input as a float32 array of its declared shape; a MalformedRequest naming what
    is wrong."""
    raw = list(request.raw_input_contents)
    if raw and len(raw) != len(request.inputs):
        raise MalformedRequest(
            f"raw_input_contents has {len(raw)} entries for {len(request.inputs)} inputs; "
            "send every input raw or none"
        )
    tensors: dict[str, NDArray[np.float32]] = {}
    for index, tensor in enumerate(request.inputs):
        name, shape = tensor.name, list(tensor.shape)
        if name in tensors:
            raise MalformedRequest(f"input '{name}' appears twice")
        dtype = tensor_dtype(name, tensor.datatype, shape)
        count = math.prod(shape)
        if raw:
            if len(raw[index]) != count * dtype.itemsize:
                raise MalformedRequest(
                    f"input '{name}' has {len(raw[index])} raw bytes, but shape {shape} of "
                    f"{tensor.datatype} takes {count * dtype.itemsize}"
                )
            flat = np.frombuffer(raw[index], dtype)
        else:
            flat = _typed(tensor, dtype, count)
        tensors[name] = finite(name, flat, shape)
    return tensors


def encode(
    response: pb.ModelInferResponse,
    results: dict[str, NDArray[np.float32]],
    request: pb.ModelInferRequest,
) -> None:
    """The outputs asked for (all by default), raw: what tritonclient and KServe's client
    read."""
    wanted = [output.name for output in request.outputs] or list(results)
    for name in wanted:
        if name not in results:
            raise MalformedRequest(
                f"unknown output '{name}'; the model has {', '.join(map(repr, results))}"
            )
        array = np.ascontiguousarray(results[name], dtype="<f4")
        response.outputs.add(name=name, datatype="FP32", shape=array.shape)
        response.raw_output_contents.append(array.tobytes())


def parameter(value: pb.InferParameter) -> Any:
    """An InferParameter's value, whichever of its kinds is set."""
    kind = value.WhichOneof("parameter_choice")
    return None if kind is None else getattr(value, kind)


def _typed(tensor: pb.ModelInferRequest.InferInputTensor, dtype: np.dtype[Any], count: int) -> Any:
    field = TYPED.get(tensor.datatype)
    values = getattr(tensor.contents, field) if field else []
    if tensor.datatype == "FP16" or len(values) != count:
        raise MalformedRequest(
            f"input '{tensor.name}' has {len(values)} values in contents.{field or 'fp32_contents'}"
            f", but shape {list(tensor.shape)} takes {count} (FP16 travels in raw_input_contents)"
        )
    return np.asarray(values, dtype=dtype)
