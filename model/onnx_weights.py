"""Reads the seed's weights (i_w, i_b, h_w, h_b, o_w, o_b) back out of an exported graph.

Tests use this to check the served ONNX file against the NumPy reference and PyTorch
independently of the training code that wrote it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import numpy_helper


def seed_weights(path: Path) -> dict[str, NDArray[np.float32]]:
    graph = onnx.load(str(path)).graph
    constants = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    rnn = next(node for node in graph.node if node.op_type == "RNN")
    w, r, b = (constants[name][0] for name in rnn.input[1:4])
    hidden = w.shape[0]
    weights = {"i_w": w, "i_b": b[:hidden], "h_w": r, "h_b": b[hidden:]}
    matmul = [n for n in graph.node if n.op_type == "MatMul" and n.input[1] in constants]
    add = [n for n in graph.node if n.op_type == "Add" and n.output[0] == "outputs"]
    if matmul and add:
        weights["o_w"] = constants[matmul[0].input[1]].T
        weights["o_b"] = next(constants[name] for name in add[0].input if name in constants)
    return weights
