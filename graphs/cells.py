"""One step of each cell, as the body of an ONNX Scan loop.

The loop graph (graphs/loop.py) projects every step's input beforehand, biases folded in
(``gate_bias``), so a body gets ``xw_t`` and the carried state and does only what needs the
previous step: the recurrent Gemm (its ``C`` input adds ``xw_t`` for free) and the gates.
Gate order is ONNX's: GRU z, r, h; LSTM i, o, f, c.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from rnn_serve.graphs.stack import Recurrent, float32

Body = Callable[[Recurrent, str], onnx.GraphProto]


def gate_bias(layer: Recurrent) -> np.ndarray:
    """The biases that can join the input projection: all of them, except the GRU's recurrent
    candidate bias when the reset gate multiplies it (reset after)."""
    bias = layer.wb + layer.rb
    if layer.cell == "gru" and layer.reset_after:
        hidden = layer.hidden_size
        bias = np.concatenate([bias[: 2 * hidden], layer.wb[2 * hidden :]])
    return float32(bias)


class Step:
    """Builds a body graph under a prefix, so its names never shadow the outer graph's."""

    def __init__(self, prefix: str, hidden: int) -> None:
        self.p, self.hidden = prefix, hidden
        self.nodes: list[onnx.NodeProto] = []
        self.constants: list[onnx.TensorProto] = []

    def const(self, name: str, value: np.ndarray) -> str:
        if value.dtype.kind == "f":
            value = float32(value)
        self.constants.append(numpy_helper.from_array(value, self.p + name))
        return self.p + name

    def sizes(self, name: str, *sizes: int) -> str:
        return self.const(name, np.array(sizes, np.int64))

    def op(self, op: str, inputs: list[str], *outputs: str, **attributes: Any) -> list[str]:
        named = [self.p + o for o in outputs]
        self.nodes.append(helper.make_node(op, inputs, named, **attributes))
        return named

    def one(self, op: str, inputs: list[str], output: str, **attributes: Any) -> str:
        return self.op(op, inputs, output, **attributes)[0]

    def graph(self, carried: list[str], results: list[str]) -> onnx.GraphProto:
        """``carried`` state inputs (then ``xw_t``), and their next values; the first result is
        also each step's output."""
        out = self.one("Identity", [results[0]], "h_out")
        tensor = helper.make_tensor_value_info
        rows: list[str | int | None] = ["batch", self.hidden]
        xw = self.p + "xw_t"
        return helper.make_graph(
            self.nodes,
            self.p + "step",
            [tensor(name, TensorProto.FLOAT, None) for name in [*carried, xw]],
            [tensor(name, TensorProto.FLOAT, rows) for name in [*results, out]],
            self.constants,
        )


def rnn_body(layer: Recurrent, prefix: str) -> onnx.GraphProto:
    s = Step(prefix, layer.hidden_size)
    h, xw = s.p + "h", s.p + "xw_t"
    pre = s.one("Gemm", [h, s.const("R_T", layer.r.T), xw], "pre")
    h_next = s.one("Relu" if layer.activation == "relu" else "Tanh", [pre], "h_next")
    return s.graph([h], [h_next])


def gru_body(layer: Recurrent, prefix: str) -> onnx.GraphProto:
    hidden = layer.hidden_size
    s = Step(prefix, hidden)
    h, xw = s.p + "h", s.p + "xw_t"
    x_zr, x_h = s.op("Split", [xw, s.sizes("x_split", 2 * hidden, hidden)], "x_zr", "x_h", axis=1)
    zr_pre = s.one("Gemm", [h, s.const("Rzr_T", layer.r[: 2 * hidden].T), x_zr], "zr_pre")
    zr = s.one("Sigmoid", [zr_pre], "zr")
    z, r = s.op("Split", [zr, s.sizes("zr_split", hidden, hidden)], "z", "r", axis=1)
    rh_t = s.const("Rh_T", layer.r[2 * hidden :].T)
    if layer.reset_after:
        hh = s.one("Gemm", [h, rh_t, s.const("Rbh", layer.rb[2 * hidden :])], "hh")
        pre = s.one("Add", [x_h, s.one("Mul", [r, hh], "r_hh")], "n_pre")
    else:
        pre = s.one("Gemm", [s.one("Mul", [r, h], "r_h"), rh_t, x_h], "n_pre")
    n = s.one("Tanh", [pre], "n")
    # (1 - z) n + z h, as n + z (h - n): two nodes fewer.
    kept = s.one("Mul", [z, s.one("Sub", [h, n], "h_minus_n")], "kept")
    return s.graph([h], [s.one("Add", [n, kept], "h_next")])


def lstm_body(layer: Recurrent, prefix: str) -> onnx.GraphProto:
    hidden = layer.hidden_size
    s = Step(prefix, hidden)
    h, c, xw = s.p + "h", s.p + "c", s.p + "xw_t"
    gates = s.one("Gemm", [h, s.const("R_T", layer.r.T), xw], "gates")
    iof_pre, g_pre = s.op(
        "Split", [gates, s.sizes("gate_split", 3 * hidden, hidden)], "iof_pre", "g_pre", axis=1
    )
    iof = s.one("Sigmoid", [iof_pre], "iof")
    i, o, f = s.op(
        "Split", [iof, s.sizes("iof_split", hidden, hidden, hidden)], "i", "o", "f", axis=1
    )
    g = s.one("Tanh", [g_pre], "g")
    c_next = s.one("Add", [s.one("Mul", [f, c], "f_c"), s.one("Mul", [i, g], "i_g")], "c_next")
    h_next = s.one("Mul", [o, s.one("Tanh", [c_next], "c_tanh")], "h_next")
    return s.graph([h, c], [h_next, c_next])


BODIES: dict[str, Body] = {"rnn": rnn_body, "gru": gru_body, "lstm": lstm_body}
