"""``rnn-serve convert``: a Keras model, a PyTorch state_dict or an ONNX file, as a served model.

Every source becomes graphs, which are checked against the source framework's own answers on
a probe before anything is written; a refusal (ConversionError) writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from contract.manifest import Manifest, Preprocessing, Source, TensorNames, sha256_of
from graphs.loop import LoopError, loop_graph
from graphs.native import native_graph
from graphs.stack import Stack, StackError
from model.convert.check import check_against, session
from model.convert.detect import framework_of
from model.convert.errors import ConversionError
from model.convert.write import write_graphs, write_manifest

__all__ = ["ConversionError", "Request", "convert"]


@dataclass(frozen=True)
class Request:
    source: Path
    name: str
    out: Path
    version: str = "1"
    window: int | None = None
    io: str | None = None  # ONNX only: CONTRACT=GRAPH_NAME pairs
    activation: str = "tanh"  # PyTorch nn.RNN only: its nonlinearity is not in the state_dict
    preprocessing: Preprocessing | None = None
    command: str = ""
    training: dict[str, Any] | None = None


@dataclass(frozen=True)
class Converted:
    """What every source comes to: the graphs, and what the manifest says about them."""

    native: bytes
    loop: onnx.ModelProto | None
    features: int
    state_size: int
    output_width: int
    framework: str
    framework_version: str
    stack: Stack | None = None
    io: TensorNames = field(default_factory=TensorNames)
    layers: list[Any] | None = None


def convert(request: Request) -> Manifest:
    try:
        converted = _read(request)
    except StackError as error:
        raise ConversionError(str(error)) from error
    manifest = _manifest(request, converted)
    written = write_graphs(request.out, request.name, converted.native, converted.loop)
    manifest = manifest.model_copy(
        update={
            "onnx_file": written.onnx_file,
            "sha256": written.sha256,
            "batched": written.batched,
        }
    )
    write_manifest(request.out, manifest)
    return manifest


def _read(request: Request) -> Converted:
    framework = framework_of(request.source)
    if framework != "onnx" and request.io:
        raise ConversionError(
            "--io maps the tensor names of an ONNX file; this is a " + framework + " file"
        )
    if framework == "keras":
        return _from_keras(request.source)
    if framework == "pytorch":
        return _from_pytorch(request.source, request.activation)
    return _from_onnx(request.source, request.io)


def _from_stack(stack: Stack, framework: str, version: str, reference: Any) -> Converted:
    native = native_graph(stack)
    loop = loop_graph(native)
    for graph in (native, loop):
        check_against(graph, TensorNames(), stack.features, stack.state_size, reference)
    return Converted(
        native.SerializeToString(),
        loop,
        stack.features,
        stack.state_size,
        stack.output_width,
        framework,
        version,
        stack=stack,
        layers=stack.specs(),
    )


def _from_keras(path: Path) -> Converted:
    from model.convert.keras_source import read_keras

    keras_model = read_keras(path)

    def reference(inputs: np.ndarray, state: np.ndarray) -> tuple[np.ndarray | None, None]:
        if state.any():
            return None, None  # a Keras model takes no initial state: checked from zeros only
        answer = np.asarray(keras_model.model(inputs).detach().cpu().numpy())
        return (answer[:, None, :] if keras_model.last_step_only else answer), None

    return _from_stack(keras_model.stack, "keras", keras_model.version, reference)


def _from_pytorch(path: Path, activation: str) -> Converted:
    import torch

    from model.convert.torch_source import load_state_dict, read_state_dict, reference_module

    tensors = load_state_dict(path)
    stack = read_state_dict(tensors, activation)
    module = reference_module(tensors, stack)

    def reference(inputs: np.ndarray, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with torch.no_grad():
            outputs, final = module(torch.from_numpy(inputs), torch.from_numpy(state))
        return outputs.numpy(), final.numpy()

    return _from_stack(stack, "pytorch", torch.__version__, reference)


def _from_onnx(path: Path, io_text: str | None) -> Converted:
    from model.convert.onnx_source import parse_io, read_onnx

    source = read_onnx(path, parse_io(io_text))
    try:
        loop = loop_graph(source.model)
    except LoopError as error:
        print(f"note: no batch graph, every batch runs the graph as it is: {error}")
        loop = None
    if loop is not None:
        original = session(source.model, source.io, source.has_initial_state)
        check_against(
            loop,
            source.io,
            source.features,
            source.state_size,
            original,
            source.has_initial_state,
        )
    name, version = source.producer
    return Converted(
        path.read_bytes(),
        loop,
        source.features,
        source.state_size,
        source.output_width,
        f"onnx ({name})",
        version,
        io=source.io,
        layers=source.layers,
    )


def _manifest(request: Request, converted: Converted) -> Manifest:
    preprocessing = None
    if request.window is not None:
        if converted.output_width != converted.features:
            raise ConversionError(
                f"--window: the model's outputs (width {converted.output_width}) cannot feed back "
                f"as its inputs ({converted.features} features), so it cannot forecast"
            )
        preprocessing = request.preprocessing or Preprocessing(difference=0, mean=0.0, std=1.0)
    stack = converted.stack
    return Manifest(
        name=request.name,
        version=request.version,
        onnx_file=f"{request.name}.onnx",
        sha256="0" * 64,  # the written file's, once written
        features=converted.features,
        state_size=converted.state_size,
        output_size=converted.output_width if stack is None or stack.head else None,
        layers=converted.layers,
        head=[int(d.w.shape[0]) for d in stack.head] if stack else None,
        io=converted.io,
        window=request.window,
        preprocessing=preprocessing,
        training=request.training or {},
        command=request.command,
        source=Source(
            file=request.source.name,
            sha256=sha256_of(request.source),
            framework=converted.framework,
            framework_version=converted.framework_version,
        ),
    )
