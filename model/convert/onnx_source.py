"""An ONNX file served as it is, its tensor names mapped onto the contract's.

``--io inputs=input_1,initial_state=h0,outputs=dense,state=hn`` names the graph's own tensors;
the mapping goes into the manifest and the service feeds and reads the graph by those names.
The shapes must fit the contract: inputs (batch, steps, features), outputs (batch, steps,
width), state and initial state (batch, state_size).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import onnx

from rnn_serve.contract.layers import LayerSpec
from rnn_serve.contract.manifest import TensorNames
from rnn_serve.graphs.loop import LoopError, read_recurrent, recurrent_nodes
from rnn_serve.model.convert.errors import ConversionError

RANKS = {"inputs": 3, "initial_state": 2, "outputs": 3, "state": 2}


@dataclass(frozen=True)
class OnnxModel:
    model: onnx.ModelProto
    io: TensorNames
    features: int
    state_size: int
    output_width: int
    has_initial_state: bool
    layers: list[LayerSpec] | None


def producer(model: onnx.ModelProto) -> tuple[str, str]:
    """Which program wrote the file (pytorch, tf2onnx...) and its version."""
    return model.producer_name or "onnx", model.producer_version or "unknown"


def parse_io(text: str | None) -> TensorNames:
    """``inputs=a,initial_state=b,outputs=c,state=d`` (any of them) -> TensorNames."""
    if not text:
        return TensorNames()
    pairs = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or key not in RANKS or not value:
            raise ConversionError(
                f"--io: {item!r} is not CONTRACT=GRAPH_NAME with CONTRACT one of {', '.join(RANKS)}"
            )
        pairs[key] = value
    return TensorNames(**pairs)


def load_onnx(path: Path) -> onnx.ModelProto:
    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model)
    except Exception as error:
        raise ConversionError(f"{path.name}: not a valid ONNX model: {error}") from error
    return model


def read_onnx(model: onnx.ModelProto, io: TensorNames) -> OnnxModel:
    graph = model.graph
    constants = {init.name for init in graph.initializer}
    inputs = {v.name: v for v in graph.input if v.name not in constants}
    outputs = {v.name: v for v in graph.output}
    shapes = {}
    for role, rank in RANKS.items():
        name = getattr(io, role)
        found = inputs.get(name) if role in ("inputs", "initial_state") else outputs.get(name)
        if found is None:
            if role == "initial_state" and name == TensorNames().initial_state:
                continue  # optional: a graph without it always starts from zeros
            where = "inputs" if role in ("inputs", "initial_state") else "outputs"
            raise ConversionError(
                f"tensor {name!r} ({role}) is not among the graph's {where}: "
                f"{sorted(inputs if where == 'inputs' else outputs)}; map it with --io"
            )
        shapes[role] = _shape(found, rank, role)
    unmapped = set(inputs) - {io.inputs, io.initial_state}
    if unmapped:
        raise ConversionError(
            f"the graph's inputs {sorted(unmapped)} are not in the mapping; the service feeds "
            "only inputs and initial_state"
        )
    state_size = _static(shapes["state"], 1, "state", io.state)
    if "initial_state" in shapes:
        initial = _static(shapes["initial_state"], 1, "initial_state", io.initial_state)
        if initial != state_size:
            raise ConversionError(
                f"initial_state {io.initial_state!r} has width {initial} and state "
                f"{io.state!r} {state_size}; they must be the same"
            )
    return OnnxModel(
        model,
        io,
        features=_static(shapes["inputs"], 2, "inputs", io.inputs),
        state_size=state_size,
        output_width=_static(shapes["outputs"], 2, "outputs", io.outputs),
        has_initial_state="initial_state" in shapes,
        layers=layers_of(model, state_size),
    )


def _shape(value: onnx.ValueInfoProto, rank: int, role: str) -> list[int | None]:
    dims = [
        d.dim_value if d.HasField("dim_value") else None for d in value.type.tensor_type.shape.dim
    ]
    if len(dims) != rank:
        raise ConversionError(
            f"tensor {value.name!r} ({role}) has rank {len(dims)}; the contract needs {rank} "
            f"({'batch, steps, width' if rank == 3 else 'batch, state_size'})"
        )
    return dims


def _static(dims: list[int | None], axis: int, role: str, name: str) -> int:
    size = dims[axis]
    if not size:
        raise ConversionError(f"tensor {name!r} ({role}) needs a fixed size on axis {axis}")
    return size


def layers_of(model: onnx.ModelProto, state_size: int) -> list[LayerSpec] | None:
    """The recurrent operators as layers, when they account for the whole state."""
    try:
        constants = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
        specs = [read_recurrent(n, constants).spec() for n in recurrent_nodes(model)]
    except LoopError:
        return None
    if not specs or sum(s.state_size for s in specs) != state_size:
        return None
    return specs
