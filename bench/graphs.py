"""Alternative ONNX graphs for the same Elman RNN that were measured and not shipped.

``unrolled(steps)``: one GEMM projects every step's input, then one MatMul + Add + Tanh per
step; fixed steps. ``scan_batch_major()``: the Scan loop shipped before, scanning axis 1 with
3-D MatMul projections. ``scan_per_step()``: a Scan loop that also projects the input inside
the loop. The shipped ones are the RNN operator and its loop graph (graphs/loop.py).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from bench.seed_graph import F32, OPSET, Weights, graph_signature, step_body, weight_constants


def unrolled(weights: Weights, steps: int) -> onnx.ModelProto:
    nodes = [
        helper.make_node("MatMul", ["inputs", "W_T"], ["xw"]),
        helper.make_node("Add", ["xw", "B"], ["xwb"]),
    ]
    state, per_step = "initial_state", []
    for t in range(steps):
        nodes += [
            helper.make_node("Gather", ["xwb", f"t{t}"], [f"x{t}"], axis=1),
            helper.make_node("Gemm", [state, "R_T", f"x{t}"], [f"pre{t}"]),
            helper.make_node("Tanh", [f"pre{t}"], [f"h{t}"]),
            helper.make_node("Unsqueeze", [f"h{t}", "axis1"], [f"u{t}"]),
        ]
        state, per_step = f"h{t}", [*per_step, f"u{t}"]
    nodes += [
        helper.make_node("Concat", per_step, ["states"], axis=1),
        helper.make_node("Identity", [state], ["state"]),
        *_projection(weights),
    ]
    constants = [numpy_helper.from_array(np.array(t, np.int64), f"t{t}") for t in range(steps)]
    constants.append(numpy_helper.from_array(np.array([1], np.int64), "axis1"))
    graph = helper.make_graph(
        nodes, "unrolled", *graph_signature(weights), weight_constants(weights) + constants
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])


def scan_batch_major(weights: Weights) -> onnx.ModelProto:
    body = step_body(weights["h_w"].shape[0])
    nodes = [
        helper.make_node("MatMul", ["inputs", "W_T"], ["xw"]),
        helper.make_node("Add", ["xw", "B"], ["xwb"]),
        _scan(["initial_state", "xwb"], body),
        *_projection(weights),
    ]
    graph = helper.make_graph(
        nodes, "scan_batch_major", *graph_signature(weights), weight_constants(weights)
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])


def scan_per_step(weights: Weights) -> onnx.ModelProto:
    features, hidden = weights["i_w"].shape[1], weights["h_w"].shape[0]
    tensor = helper.make_tensor_value_info
    body = helper.make_graph(
        [
            helper.make_node("MatMul", ["x_t", "W_T"], ["xw"]),
            helper.make_node("Gemm", ["h", "R_T", "xw"], ["s"]),
            helper.make_node("Add", ["s", "B"], ["pre"]),
            helper.make_node("Tanh", ["pre"], ["h_next"]),
            helper.make_node("Identity", ["h_next"], ["h_out"]),
        ],
        "step",
        [tensor("h", F32, ["batch", hidden]), tensor("x_t", F32, ["batch", features])],
        [tensor("h_next", F32, ["batch", hidden]), tensor("h_out", F32, ["batch", hidden])],
    )
    nodes = [_scan(["initial_state", "inputs"], body), *_projection(weights)]
    graph = helper.make_graph(
        nodes, "scan_per_step", *graph_signature(weights), weight_constants(weights)
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])


def _scan(inputs: list[str], body: onnx.GraphProto) -> onnx.NodeProto:
    """A Scan over axis 1 (steps) of batch-major tensors."""
    return helper.make_node(
        "Scan",
        inputs,
        ["state", "states"],
        body=body,
        num_scan_inputs=1,
        scan_input_axes=[1],
        scan_output_axes=[1],
    )


def _projection(weights: Weights) -> list[onnx.NodeProto]:
    if "o_w" not in weights:
        return [helper.make_node("Identity", ["states"], ["outputs"])]
    return [
        helper.make_node("MatMul", ["states", "O_T"], ["projected"]),
        helper.make_node("Add", ["projected", "O_B"], ["outputs"]),
    ]
