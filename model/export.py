"""Exports an ElmanRNN to ONNX with dynamic batch and steps, and checks the graph."""

from __future__ import annotations

import warnings
from pathlib import Path

import onnx
import torch

from contract.names import INITIAL_STATE, INPUTS, OUTPUTS, STATE
from model.network import ElmanRNN

OPSET = 17
DYNAMIC_AXES = {
    INPUTS: {0: "batch", 1: "steps"},
    INITIAL_STATE: {0: "batch"},
    OUTPUTS: {0: "batch", 1: "steps"},
    STATE: {0: "batch"},
}


def export_onnx(net: ElmanRNN, path: Path) -> None:
    """The TorchScript exporter (``dynamo=False``) emits the native ONNX ``RNN`` operator with
    dynamic axes; the dynamo exporter would unroll a fixed number of steps."""
    net.eval()
    example = (torch.zeros(2, 3, net.config.features), net.zero_state(2))
    with warnings.catch_warnings():
        # The tracer warns about RNNs with a fixed batch (ours takes the initial state as an
        # input) and about shape checks it records as constants; the checker below is the test.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net,
            example,
            str(path),
            input_names=[INPUTS, INITIAL_STATE],
            output_names=[OUTPUTS, STATE],
            dynamic_axes=DYNAMIC_AXES,
            opset_version=OPSET,
            dynamo=False,
        )
    graph = onnx.load(str(path))
    onnx.checker.check_model(graph, full_check=True)
    if not any(node.op_type == "RNN" for node in graph.graph.node):
        raise RuntimeError(f"{path.name}: the exporter did not emit an ONNX RNN operator")
