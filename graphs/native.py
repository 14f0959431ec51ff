"""A stack as ONNX's own recurrent operators (RNN, GRU, LSTM): the graph cuDNN runs on a GPU,
and ONNX Runtime's fastest on the CPU for a single sequence.

inputs (batch, steps, features) and initial_state (batch, state_size) in; outputs (batch,
steps, width) and state (batch, state_size) out. The operators are time-major (ONNX Runtime
runs no other layout), so the inputs turn once at the start and the narrow outputs once at the
end; each layer's slice of the state goes in as its initial h (and c), and the final ones are
concatenated back in layer order.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from rnn_serve.contract.layers import STATE_PARTS
from rnn_serve.contract.names import INITIAL_STATE, INPUTS, OUTPUTS, STATE
from rnn_serve.graphs.stack import Dense, Recurrent, Stack, float32

OPSET = 17
# The IR version that opset 17 needs, as the TorchScript exporter writes it. onnx's default is
# the newest, which older runtimes refuse: onnxruntime-gpu 1.31 reads up to 13.
IR_VERSION = 8
F32 = TensorProto.FLOAT
OPERATORS = {"rnn": "RNN", "gru": "GRU", "lstm": "LSTM"}
ONNX_ACTIVATIONS = {"relu": "Relu", "tanh": "Tanh", "sigmoid": "Sigmoid"}


class Builder:
    """Collects nodes and constants under unique names."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.constants: list[onnx.TensorProto] = []

    def constant(self, name: str, value: np.ndarray) -> str:
        self.constants.append(numpy_helper.from_array(value, name))
        return name

    def ints(self, name: str, values: list[int]) -> str:
        return self.constant(name, np.array(values, np.int64))

    def node(self, op: str, inputs: list[str], output: str, **attributes: Any) -> str:
        self.nodes.append(helper.make_node(op, inputs, [output], name=output, **attributes))
        return output


def native_graph(stack: Stack) -> onnx.ModelProto:
    build = Builder()
    sequence = build.node("Transpose", [INPUTS], "inputs_tm", perm=[1, 0, 2])
    finals, offset = [], 0
    for index, layer in enumerate(stack.layers):
        sequence, states, offset = _layer(build, index, layer, sequence, offset)
        finals += states
    sequence = head(build, stack.head, sequence, stack.layers[-1].hidden_size)
    build.node("Transpose", [sequence], OUTPUTS, perm=[1, 0, 2])
    if len(finals) == 1:
        build.node("Identity", finals, STATE)
    else:
        build.node("Concat", finals, STATE, axis=1)
    return finish(build, stack, "rnn_stack")


def _layer(
    build: Builder, index: int, layer: Recurrent, sequence: str, offset: int
) -> tuple[str, list[str], int]:
    """One operator; returns its (steps, batch, hidden) outputs, its final states (batch,
    hidden) and the next layer's offset in the state."""
    name, hidden = f"l{index}", layer.hidden_size
    gates = layer.w.shape[0]
    w = build.constant(f"{name}_W", float32(layer.w.reshape(1, gates, -1)))
    r = build.constant(f"{name}_R", float32(layer.r.reshape(1, gates, hidden)))
    b = build.constant(f"{name}_B", float32(np.concatenate([layer.wb, layer.rb])[None]))
    initial = []
    for part in STATE_PARTS[layer.cell]:
        start = build.ints(f"{name}_{part}_start", [offset])
        stop = build.ints(f"{name}_{part}_stop", [offset + hidden])
        one = build.ints(f"{name}_{part}_axis", [1])
        sliced = build.node("Slice", [INITIAL_STATE, start, stop, one], f"{name}_{part}0_2d")
        zero = build.ints(f"{name}_{part}_lead", [0])
        initial.append(build.node("Unsqueeze", [sliced, zero], f"{name}_{part}0"))
        offset += hidden
    attributes: dict[str, Any] = {"hidden_size": hidden}
    if layer.cell == "rnn":
        attributes["activations"] = [ONNX_ACTIVATIONS[layer.activation]]
    if layer.cell == "gru":
        attributes["linear_before_reset"] = int(layer.reset_after)
    outputs = [f"{name}_Y", f"{name}_Y_h"] + ([f"{name}_Y_c"] if layer.cell == "lstm" else [])
    inputs = [sequence, w, r, b, "", *initial]
    build.nodes.append(
        helper.make_node(OPERATORS[layer.cell], inputs, outputs, name=name, **attributes)
    )
    axis = build.ints(f"{name}_direction_axis", [1])
    lead = build.ints(f"{name}_lead_axis", [0])
    steps = build.node("Squeeze", [outputs[0], axis], f"{name}_out")
    finals = [build.node("Squeeze", [o, lead], f"{o}_2d") for o in outputs[1:]]
    return steps, finals, offset


def head(build: Builder, dense: tuple[Dense, ...], sequence: str, width: int) -> str:
    """The dense layers on every step, as 2-D Gemms over the (steps * batch) rows: faster in
    ONNX Runtime than a 3-D MatMul with a broadcast Add."""
    if not dense:
        return sequence
    shape = build.node("Shape", [sequence], "head_shape")
    steps_batch = build.node(
        "Slice", [shape, build.ints("head_from", [0]), build.ints("head_to", [2])], "steps_batch"
    )
    rows = build.node("Reshape", [sequence, build.ints("head_rows", [-1, width])], "head_in")
    for index, layer in enumerate(dense):
        w = build.constant(f"d{index}_W_T", float32(layer.w.T))
        b = build.constant(f"d{index}_B", float32(layer.b))
        rows = build.node("Gemm", [rows, w, b], f"d{index}_out")
        if layer.activation != "linear":
            rows = build.node(ONNX_ACTIVATIONS[layer.activation], [rows], f"d{index}_act")
    width_out = build.ints("head_width", [int(dense[-1].w.shape[0])])
    target = build.node("Concat", [steps_batch, width_out], "head_out_shape", axis=0)
    return build.node("Reshape", [rows, target], "head_out")


def finish(build: Builder, stack: Stack, name: str) -> onnx.ModelProto:
    tensor = helper.make_tensor_value_info
    inputs = [
        tensor(INPUTS, F32, ["batch", "steps", stack.features]),
        tensor(INITIAL_STATE, F32, ["batch", stack.state_size]),
    ]
    outputs = [
        tensor(OUTPUTS, F32, ["batch", "steps", stack.output_width]),
        tensor(STATE, F32, ["batch", stack.state_size]),
    ]
    graph = helper.make_graph(build.nodes, name, inputs, outputs, build.constants)
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION
    )
    onnx.checker.check_model(model, full_check=True)
    return model


def read_native(model: onnx.ModelProto) -> Stack:
    """The stack that native_graph wrote (tests and benchmarks read shipped files with it)."""
    from rnn_serve.graphs.loop import read_recurrent, recurrent_nodes

    constants = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    layers = tuple(read_recurrent(node, constants) for node in recurrent_nodes(model))
    activations = {node.input[0]: node.op_type for node in model.graph.node}
    by_op = {op: name for name, op in ONNX_ACTIVATIONS.items()}
    dense, index = [], 0
    while f"d{index}_W_T" in constants:
        activation = by_op.get(activations.get(f"d{index}_out", ""), "linear")
        w, b = constants[f"d{index}_W_T"].T, constants[f"d{index}_B"]
        dense.append(Dense(float32(w), float32(b), activation))  # type: ignore[arg-type]
        index += 1
    return Stack(layers, tuple(dense))
