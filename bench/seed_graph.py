"""The co2 model's single Elman layer as the seed names its weights (i_w, i_b, h_w, h_b, o_w,
o_b), and the pieces the benchmark's alternative graphs are built from.

The shipped graphs come from graphs/ (native operators, and their Scan loops); these helpers
only let bench/graphs.py and bench/padding.py write the designs that were measured and not
shipped, on the same weights.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper

from rnn_serve.graphs.loop import loop_graph
from rnn_serve.graphs.native import IR_VERSION, OPSET, native_graph, read_native
from rnn_serve.graphs.stack import Dense, Recurrent, Stack

F32 = TensorProto.FLOAT
Weights = dict[str, NDArray[np.float32]]
__all__ = ["F32", "IR_VERSION", "OPSET", "Weights"]


def seed_weights(path: Path) -> Weights:
    stack = read_native(onnx.load(str(path)))
    layer = stack.layers[0]
    weights = {"i_w": layer.w, "i_b": layer.wb, "h_w": layer.r, "h_b": layer.rb}
    if stack.head:
        weights |= {"o_w": stack.head[0].w, "o_b": stack.head[0].b}
    return weights


def shipped_loop(weights: Weights) -> onnx.ModelProto:
    """The loop graph the service runs batches on, for these weights."""
    layer = Recurrent("rnn", weights["i_w"], weights["h_w"], weights["i_b"], weights["h_b"])
    head = (Dense(weights["o_w"], weights["o_b"]),) if "o_w" in weights else ()
    return loop_graph(native_graph(Stack((layer,), head)))


def step_body(hidden: int) -> onnx.GraphProto:
    """One step: ``h_next = tanh(h R + xw_t)``, as the carried state and the step's output."""
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
