"""Any graph's recurrent operators rewritten as ONNX Scan loops: the faster graph for batches
on the CPU.

ONNX Runtime's RNN, GRU and LSTM kernels run each step for the whole batch slower than a plain
GEMM does (bench/core.py: 0.77 ms against 0.12 ms at batch 64, 48 steps, hidden 32), but win at
batch 1. Each operator here becomes: every step's input projection in one 2-D Gemm over the
(steps * batch) rows, then a Scan over the leading (time) axis whose body is one or two Gemms
and the cell's elementwise gates. Everything else in the graph stays as it was, so this works
for our own graphs (graphs/native.py) and for ONNX files from elsewhere alike.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from rnn_serve.graphs.cells import BODIES, gate_bias
from rnn_serve.graphs.stack import Recurrent

RECURRENT = {"RNN": "rnn", "GRU": "gru", "LSTM": "lstm"}
DEFAULT_ACTIVATIONS = {"gru": ["Sigmoid", "Tanh"], "lstm": ["Sigmoid", "Tanh", "Tanh"]}
MIN_OPSET = 13  # Squeeze, Unsqueeze and Split take their axes and sizes as inputs from 13 on


class LoopError(ValueError):
    """The graph cannot be rewritten; the message says which node and why."""


def loop_graph(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of ``model`` with every recurrent operator replaced by a Scan loop."""
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset < MIN_OPSET:
        raise LoopError(f"opset {opset} is older than {MIN_OPSET}, which the loop graph needs")
    result = onnx.ModelProto()
    result.CopyFrom(model)
    graph = result.graph
    constants = _constants(graph)
    nodes, replaced = [], 0
    for node in graph.node:
        if node.op_type not in RECURRENT:
            kept = onnx.NodeProto()
            kept.CopyFrom(node)  # the graph's own list is cleared below
            nodes.append(kept)
            continue
        layer = read_recurrent(node, constants)
        nodes += _scan_nodes(node, layer, f"loop{replaced}_")
        replaced += 1
    if not replaced:
        raise LoopError("the graph has no RNN, GRU or LSTM operator to turn into a loop")
    del graph.node[:]
    graph.node.extend(nodes)
    _drop_unused_initializers(graph)
    onnx.checker.check_model(result)
    return result


def recurrent_nodes(model: onnx.ModelProto) -> list[onnx.NodeProto]:
    return [node for node in model.graph.node if node.op_type in RECURRENT]


def read_recurrent(node: onnx.NodeProto, constants: dict[str, np.ndarray]) -> Recurrent:
    """The operator's weights and variant, or LoopError naming what does not fit."""
    cell = RECURRENT[node.op_type]
    attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    where = f"{node.op_type} node {node.name or node.output[0]!r}"
    inputs = list(node.input) + [""] * (8 - len(node.input))
    for name, unsupported in [
        ("direction", attributes.get("direction", b"forward") not in (b"forward", "forward")),
        ("layout", attributes.get("layout", 0) != 0),
        ("clip", "clip" in attributes),
        ("input_forget", attributes.get("input_forget", 0) != 0),
        ("sequence_lens", bool(inputs[4])),
        ("peepholes (P)", bool(inputs[7]) and cell == "lstm"),
        ("activation_alpha", "activation_alpha" in attributes),
    ]:
        if unsupported:
            raise LoopError(f"{where}: {name} is not supported by the loop graph")
    activations = [
        a.decode() if isinstance(a, bytes) else a for a in attributes.get("activations", [])
    ]
    activation = "tanh"
    if cell == "rnn":
        if activations not in ([], ["Tanh"], ["Relu"]):
            raise LoopError(f"{where}: activations {activations} (Tanh or Relu only)")
        activation = "relu" if activations == ["Relu"] else "tanh"
    elif activations not in ([], DEFAULT_ACTIVATIONS[cell]):
        raise LoopError(f"{where}: activations {activations} (only the defaults)")
    missing = [name for name in inputs[1:3] if name not in constants]
    if missing or (inputs[3] and inputs[3] not in constants):
        raise LoopError(f"{where}: its weights are not constants of the graph")
    w, r = constants[inputs[1]], constants[inputs[2]]
    if w.shape[0] != 1:
        raise LoopError(f"{where}: {w.shape[0]} directions (only forward)")
    rows = w.shape[1]
    bias = constants[inputs[3]][0] if inputs[3] else np.zeros(2 * rows, np.float32)
    return Recurrent(
        cell,  # type: ignore[arg-type]
        w[0],
        r[0],
        bias[:rows],
        bias[rows:],
        activation=activation,  # type: ignore[arg-type]
        reset_after=bool(attributes.get("linear_before_reset", 0)),
    )


def _scan_nodes(node: onnx.NodeProto, layer: Recurrent, p: str) -> list[onnx.NodeProto]:
    """The nodes that compute the operator's outputs (Y, Y_h, Y_c) from its inputs."""
    make, const = helper.make_node, _constant_node
    x = node.input[0]
    inputs = list(node.input) + [""] * (8 - len(node.input))
    outputs = list(node.output) + [""] * (3 - len(node.output))
    hidden, rows = layer.hidden_size, layer.w.shape[0]
    nodes = [
        const(f"{p}W_T", layer.w.T),
        const(f"{p}B", gate_bias(layer)),
        const(f"{p}rows", np.array([-1, layer.input_size], np.int64)),
        const(f"{p}width", np.array([rows], np.int64)),
        const(f"{p}zero", np.array([0], np.int64)),
        const(f"{p}one", np.array([1], np.int64)),
        const(f"{p}two", np.array([2], np.int64)),
        make("Shape", [x], [f"{p}shape"]),
        make("Slice", [f"{p}shape", f"{p}zero", f"{p}two"], [f"{p}steps_batch"]),
        make("Reshape", [x, f"{p}rows"], [f"{p}x_rows"]),
        make("Gemm", [f"{p}x_rows", f"{p}W_T", f"{p}B"], [f"{p}xw_rows"]),
        make("Concat", [f"{p}steps_batch", f"{p}width"], [f"{p}xw_shape"], axis=0),
        make("Reshape", [f"{p}xw_rows", f"{p}xw_shape"], [f"{p}xw"]),
    ]
    carried = []
    for index, part in enumerate(["h", "c"] if layer.cell == "lstm" else ["h"]):
        given = inputs[5 + index]
        if given:
            nodes.append(make("Squeeze", [given, f"{p}zero"], [f"{p}{part}0"]))
        else:
            nodes += [
                const(f"{p}hidden", np.array([hidden], np.int64)),
                make("Slice", [f"{p}shape", f"{p}one", f"{p}two"], [f"{p}batch"]),
                make("Concat", [f"{p}batch", f"{p}hidden"], [f"{p}{part}0_shape"], axis=0),
                make("ConstantOfShape", [f"{p}{part}0_shape"], [f"{p}{part}0"]),
            ]
        carried.append(f"{p}{part}0")
    finals = [f"{p}{part}_last" for part in ("h", "c")][: len(carried)]
    body = BODIES[layer.cell](layer, f"{p}body_")
    nodes.append(
        make("Scan", [*carried, f"{p}xw"], [*finals, f"{p}ys"], body=body, num_scan_inputs=1)
    )
    if outputs[0]:
        nodes.append(make("Unsqueeze", [f"{p}ys", f"{p}one"], [outputs[0]]))
    for final, target in zip(finals, outputs[1:], strict=False):
        if target:
            nodes.append(make("Unsqueeze", [final, f"{p}zero"], [target]))
    return nodes


def _constant_node(name: str, value: np.ndarray) -> onnx.NodeProto:
    if value.dtype.kind == "f":
        value = np.ascontiguousarray(value, np.float32)
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(value, name))


def _constants(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    found = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            found[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    return found


def _drop_unused_initializers(graph: onnx.GraphProto) -> None:
    """The replaced operators' weights go; anything a node or a subgraph reads stays."""
    used = _names_read(graph) | {value.name for value in graph.output}
    kept = [init for init in graph.initializer if init.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)


def _names_read(graph: onnx.GraphProto) -> set[str]:
    names = set()
    for node in graph.node:
        names.update(node.input)
        for attribute in node.attribute:
            for subgraph in [attribute.g, *attribute.graphs]:
                names |= _names_read(subgraph)
    return names
