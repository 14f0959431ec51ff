"""A second graph of the same Elman RNN, faster for batches: an ONNX Scan loop, time-major.

ONNX Runtime's RNN operator runs each step for the whole batch slower than a plain GEMM does
(bench/core.py measures 0.77 ms against 0.12 ms at batch 64, 48 steps, hidden 32), but wins at
batch 1. This graph turns the inputs time-major once (cheap: features are few), projects every
step's input in one 2-D Gemm, loops one Gemm (h R + xw_t) and one Tanh per step over the
leading axis, and projects every state in one more Gemm before turning the (narrow) outputs
back. Scanning axis 1 instead makes ONNX Runtime transpose the hidden-wide tensors, and 3-D
MatMul with a broadcast Add is slower than 2-D Gemm: together 1.6x slower at batch 64.
Like the RNN operator, it takes any batch and any number of steps.
"""

from __future__ import annotations

import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
# The IR version that opset 17 needs, as the TorchScript exporter writes it. onnx's default is
# the newest (14 in onnx 1.23), which older runtimes refuse: onnxruntime-gpu 1.31 reads up to 13.
IR_VERSION = 8
F32 = TensorProto.FLOAT
Weights = dict[str, NDArray[np.float32]]


def scan_graph(weights: Weights) -> onnx.ModelProto:
    """``weights`` named as in the seed: i_w, i_b, h_w, h_b and optionally o_w, o_b."""
    features, hidden = weights["i_w"].shape[1], weights["h_w"].shape[0]
    body = step_body(hidden)
    node = helper.make_node
    nodes = [
        node("Transpose", ["inputs"], ["inputs_tm"], perm=[1, 0, 2]),  # (steps, batch, features)
        node("Shape", ["inputs_tm"], ["shape_tm"]),
        node("Slice", ["shape_tm", "ZERO", "TWO"], ["steps_batch"]),
    ]
    constants = [*weight_constants(weights), _int64("ZERO", [0]), _int64("TWO", [2])]
    projection = _rows_gemm("inputs_tm", features, "W_T", "B", hidden, "xw")
    nodes += projection[0]
    constants += projection[1]
    nodes.append(
        node("Scan", ["initial_state", "xw"], ["state", "states"], body=body, num_scan_inputs=1)
    )
    if "o_w" in weights:
        projection = _rows_gemm("states", hidden, "O_T", "O_B", weights["o_w"].shape[0], "out")
        nodes += projection[0]
        constants += projection[1]
        nodes.append(node("Transpose", ["out"], ["outputs"], perm=[1, 0, 2]))
    else:
        nodes.append(node("Transpose", ["states"], ["outputs"], perm=[1, 0, 2]))
    graph = helper.make_graph(nodes, "elman_scan", *graph_signature(weights), constants)
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION
    )
    onnx.checker.check_model(model, full_check=True)
    return model


def step_body(hidden: int) -> onnx.GraphProto:
    """One step: ``h_next = tanh(h R + xw_t)``, emitted both as the carried state and as the
    step's output (a Scan body needs two distinct names for them)."""
    state = helper.make_tensor_value_info
    return helper.make_graph(
        [
            helper.make_node("Gemm", ["h", "R_T", "xw_t"], ["pre"]),
            helper.make_node("Tanh", ["pre"], ["h_next"]),
            helper.make_node("Identity", ["h_next"], ["h_out"]),
        ],
        "step",
        [state("h", F32, ["batch", hidden]), state("xw_t", F32, ["batch", hidden])],
        [state("h_next", F32, ["batch", hidden]), state("h_out", F32, ["batch", hidden])],
    )


def _rows_gemm(
    source: str, width_in: int, matrix: str, bias: str, width_out: int, target: str
) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """``target = source @ matrix + bias`` over the last axis of a (steps, batch, width_in)
    tensor, as one 2-D Gemm on its steps * batch rows; the nodes and their constants."""
    node = helper.make_node
    nodes = [
        node("Reshape", [source, f"{source}_ROWS"], [f"{source}_rows"]),
        node("Gemm", [f"{source}_rows", matrix, bias], [f"{target}_rows"]),
        node("Concat", ["steps_batch", f"{target}_WIDTH"], [f"{target}_shape"], axis=0),
        node("Reshape", [f"{target}_rows", f"{target}_shape"], [target]),
    ]
    return nodes, [_int64(f"{source}_ROWS", [-1, width_in]), _int64(f"{target}_WIDTH", [width_out])]


def _int64(name: str, values: list[int]) -> onnx.TensorProto:
    return numpy_helper.from_array(np.array(values, np.int64), name)


def weight_constants(weights: Weights) -> list[onnx.TensorProto]:
    tensors = {
        "W_T": weights["i_w"].T,
        "R_T": weights["h_w"].T,
        "B": weights["i_b"] + weights["h_b"],
    }
    if "o_w" in weights:
        tensors |= {"O_T": weights["o_w"].T, "O_B": weights["o_b"]}
    return [
        numpy_helper.from_array(np.ascontiguousarray(value, np.float32), name)
        for name, value in tensors.items()
    ]


def graph_signature(
    weights: Weights,
) -> tuple[list[onnx.ValueInfoProto], list[onnx.ValueInfoProto]]:
    features, hidden = weights["i_w"].shape[1], weights["h_w"].shape[0]
    width = weights["o_w"].shape[0] if "o_w" in weights else hidden
    tensor = helper.make_tensor_value_info
    inputs = [
        tensor("inputs", F32, ["batch", "steps", features]),
        tensor("initial_state", F32, ["batch", hidden]),
    ]
    outputs = [
        tensor("outputs", F32, ["batch", "steps", width]),
        tensor("state", F32, ["batch", hidden]),
    ]
    return inputs, outputs
