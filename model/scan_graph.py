"""A second graph of the same Elman RNN, faster for large batches: an ONNX Scan loop.

ONNX Runtime's RNN operator runs each step for the whole batch slower than a plain GEMM does
(bench/core.py measures 0.77 ms against 0.20 ms at batch 64, 48 steps, hidden 32), but wins at
batch 1. This graph projects every step's input in one GEMM, then loops one Gemm (h R + xw_t)
and one Tanh per step. Like the RNN operator, it takes any batch and any number of steps.
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
    hidden = weights["h_w"].shape[0]
    state = helper.make_tensor_value_info
    body = helper.make_graph(
        [
            helper.make_node("Gemm", ["h", "R_T", "xw_t"], ["pre"]),
            helper.make_node("Tanh", ["pre"], ["h_next"]),
            helper.make_node("Identity", ["h_next"], ["h_out"]),
        ],
        "step",
        [state("h", F32, ["batch", hidden]), state("xw_t", F32, ["batch", hidden])],
        [state("h_next", F32, ["batch", hidden]), state("h_out", F32, ["batch", hidden])],
    )
    nodes = [
        helper.make_node("MatMul", ["inputs", "W_T"], ["xw"]),
        helper.make_node("Add", ["xw", "B"], ["xwb"]),
        helper.make_node(
            "Scan",
            ["initial_state", "xwb"],
            ["state", "states"],
            body=body,
            num_scan_inputs=1,
            scan_input_axes=[1],
            scan_output_axes=[1],
        ),
        *_projection(weights),
    ]
    graph = helper.make_graph(nodes, "elman_scan", *_signature(weights), _constants(weights))
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION
    )
    onnx.checker.check_model(model, full_check=True)
    return model


def _constants(weights: Weights) -> list[onnx.TensorProto]:
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


def _projection(weights: Weights) -> list[onnx.NodeProto]:
    if "o_w" not in weights:
        return [helper.make_node("Identity", ["states"], ["outputs"])]
    return [
        helper.make_node("MatMul", ["states", "O_T"], ["projected"]),
        helper.make_node("Add", ["projected", "O_B"], ["outputs"]),
    ]


def _signature(weights: Weights) -> tuple[list[onnx.ValueInfoProto], list[onnx.ValueInfoProto]]:
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
