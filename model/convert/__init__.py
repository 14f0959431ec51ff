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

from rnn_serve.contract.layers import LayerSpec
from rnn_serve.contract.manifest import Manifest, Preprocessing, Source, TensorNames, sha256_of
from rnn_serve.graphs.loop import LoopError, loop_graph
from rnn_serve.graphs.native import native_graph
from rnn_serve.graphs.stack import Stack, StackError
from rnn_serve.model.convert.check import check_against, session
from rnn_serve.model.convert.detect import framework_of
from rnn_serve.model.convert.errors import ConversionError
from rnn_serve.model.convert.layered_state import LayeredState
from rnn_serve.model.convert.write import write_graphs, write_manifest

__all__ = ["ConversionError", "Target", "convert", "from_state_dict", "save"]


@dataclass(frozen=True)
class Target:
    """Where a converted model goes and what its manifest says beyond the graphs."""

    name: str
    out: Path
    version: str = "1"
    window: int | None = None
    preprocessing: Preprocessing | None = None
    command: str = ""
    training: dict[str, Any] = field(default_factory=dict)


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
    layers: list[LayerSpec] | None = None


def convert(
    source: Path, target: Target, io: str | None = None, activation: str = "tanh"
) -> Manifest:
    """``io`` maps an ONNX file's tensor names; ``activation`` is a PyTorch nn.RNN's, which a
    state_dict does not hold."""
    framework = framework_of(source)
    if framework != "onnx" and io:
        raise ConversionError(f"--io maps an ONNX file's tensor names; this is a {framework} file")
    try:
        if framework == "keras":
            converted = _from_keras(source)
        elif framework == "pytorch":
            from rnn_serve.model.convert.torch_source import load_state_dict

            converted = from_state_dict(load_state_dict(source), activation)
        else:
            converted = _from_onnx(source, io)
    except StackError as error:
        raise ConversionError(str(error)) from error
    origin = Source(
        file=source.name,
        sha256=sha256_of(source),
        framework=converted.framework,
        framework_version=converted.framework_version,
    )
    return save(target, converted, origin)


def save(target: Target, converted: Converted, source: Source | None = None) -> Manifest:
    """Writes the graphs, then the manifest; ``source`` is the file converted, if any."""
    manifest = _manifest(target, converted, source)
    written = write_graphs(target.out, target.name, converted.native, converted.loop)
    manifest = manifest.model_copy(
        update={
            "onnx_file": written.onnx_file,
            "sha256": written.sha256,
            "batched": written.batched,
        }
    )
    write_manifest(target.out, manifest)
    return manifest


def from_state_dict(tensors: Any, activation: str = "tanh") -> Converted:
    """A PyTorch state_dict's graphs, checked against PyTorch itself; ``make train`` builds
    the shipped models through here."""
    import torch

    from rnn_serve.model.convert.torch_source import read_state_dict, reference_module

    stack = read_state_dict(tensors, activation)
    module = reference_module(tensors, stack)

    def reference(inputs: np.ndarray, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with torch.no_grad():
            outputs, final = module(torch.from_numpy(inputs), torch.from_numpy(state))
        return outputs.numpy(), final.numpy()

    return _from_stack(stack, "pytorch", torch.__version__, reference)


def _from_keras(path: Path) -> Converted:
    from rnn_serve.model.convert.keras_source import read_keras

    keras_model = read_keras(path)

    def reference(inputs: np.ndarray, state: np.ndarray) -> tuple[np.ndarray | None, None]:
        if state.any():
            return None, None  # a Keras model takes no initial state: checked from zeros only
        answer = np.asarray(keras_model.model(inputs).detach().cpu().numpy())
        return (answer[:, None, :] if keras_model.last_step_only else answer), None

    return _from_stack(keras_model.stack, "keras", keras_model.version, reference)


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


def _from_onnx(path: Path, io_text: str | None) -> Converted:
    from rnn_serve.model.convert import layered_state
    from rnn_serve.model.convert.onnx_source import load_onnx, parse_io, read_onnx

    model = load_onnx(path)
    if layered_state.applies(model, io_text):
        return _from_layered(layered_state.read(model, layered_state.parse_mapping(io_text)))
    source = read_onnx(model, parse_io(io_text))
    loop = _loop_of(source.model)
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
    return Converted(
        path.read_bytes(),
        loop,
        source.features,
        source.state_size,
        source.output_width,
        *_written_by(model),
        io=source.io,
        layers=source.layers,
    )


def _from_layered(source: LayeredState) -> Converted:
    """An ONNX file whose state is (layers, batch, hidden) tensors (layered_state.py), in
    the adapter graph that gives it the contract's flat state."""
    from rnn_serve.model.convert import layered_state
    from rnn_serve.model.convert.onnx_source import layers_of

    wrapped, names = layered_state.wrap(source)
    reference = layered_state.reference(source)
    graphs = [wrapped] if (loop := _loop_of(wrapped)) is None else [wrapped, loop]
    for graph in graphs:
        check_against(graph, names, source.features, source.state_size, reference)
    return Converted(
        wrapped.SerializeToString(),
        loop,
        source.features,
        source.state_size,
        source.output_width,
        *_written_by(source.model),
        io=names,
        layers=layers_of(wrapped, source.state_size),
    )


def _written_by(model: onnx.ModelProto) -> tuple[str, str]:
    """The framework and version a converted ONNX file's manifest records."""
    from rnn_serve.model.convert.onnx_source import producer

    name, version = producer(model)
    return f"onnx ({name})", version


def _loop_of(model: onnx.ModelProto) -> onnx.ModelProto | None:
    try:
        return loop_graph(model)
    except LoopError as error:
        print(f"note: no batch graph, every batch runs the graph as it is: {error}")
        return None


def _manifest(target: Target, converted: Converted, source: Source | None) -> Manifest:
    preprocessing = None
    if target.window is not None:
        if converted.output_width != converted.features:
            raise ConversionError(
                f"--window: the model's outputs (width {converted.output_width}) cannot feed back "
                f"as its inputs ({converted.features} features), so it cannot forecast"
            )
        preprocessing = target.preprocessing or Preprocessing(difference=0, mean=0.0, std=1.0)
        lag = preprocessing.seasonal or preprocessing.difference
        if target.window <= lag:
            raise ConversionError(
                f"--window {target.window}: a forecast must read more than the {lag} values "
                "that seed the differencing"
            )
    stack = converted.stack
    return Manifest(
        name=target.name,
        version=target.version,
        onnx_file=f"{target.name}.onnx",
        sha256="0" * 64,  # the written file's, once written
        features=converted.features,
        state_size=converted.state_size,
        output_size=converted.output_width if stack is None or stack.head else None,
        layers=converted.layers,
        head=[int(d.w.shape[0]) for d in stack.head] if stack else None,
        io=converted.io,
        window=target.window,
        preprocessing=preprocessing,
        training=target.training,
        command=target.command,
        source=source,
    )
