"""A recurrent stack's weights, in the layout of ONNX's RNN, GRU and LSTM operators.

Every source (Keras, PyTorch, the NumPy reference) is turned into this one form, and every
graph is written from it. Gate order is ONNX's: GRU z, r, h; LSTM i, o, f, c. Each layer has
an input bias ``wb`` and a recurrent bias ``rb`` (zeros where the source has one bias).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from rnn_serve.contract.layers import Cell, LayerSpec

Matrix = NDArray[np.float32]
GATES: dict[str, int] = {"rnn": 1, "gru": 3, "lstm": 4}
Activation = Literal["linear", "relu", "tanh", "sigmoid"]


class StackError(ValueError):
    """The weights do not make a stack this service can run; the message names the layer."""


@dataclass(frozen=True)
class Recurrent:
    cell: Cell
    w: Matrix  # (gates * hidden, input)
    r: Matrix  # (gates * hidden, hidden)
    wb: Matrix  # (gates * hidden,)
    rb: Matrix  # (gates * hidden,)
    activation: Literal["tanh", "relu"] = "tanh"  # rnn only
    reset_after: bool = True  # gru only: ONNX's linear_before_reset

    @property
    def hidden_size(self) -> int:
        return int(self.r.shape[1])

    @property
    def input_size(self) -> int:
        return int(self.w.shape[1])

    def spec(self) -> LayerSpec:
        return LayerSpec(
            cell=self.cell,
            hidden_size=self.hidden_size,
            activation=self.activation if self.cell == "rnn" else None,
            reset_after=self.reset_after if self.cell == "gru" else None,
        )


@dataclass(frozen=True)
class Dense:
    """``activation(x w.T + b)`` on every step."""

    w: Matrix  # (out, in)
    b: Matrix  # (out,)
    activation: Activation = "linear"


@dataclass(frozen=True)
class Stack:
    layers: tuple[Recurrent, ...]
    head: tuple[Dense, ...] = ()

    def __post_init__(self) -> None:
        check(self)

    @property
    def features(self) -> int:
        return self.layers[0].input_size

    @property
    def state_size(self) -> int:
        return sum(layer.spec().state_size for layer in self.layers)

    @property
    def output_width(self) -> int:
        return int(self.head[-1].w.shape[0]) if self.head else self.layers[-1].hidden_size

    def specs(self) -> list[LayerSpec]:
        return [layer.spec() for layer in self.layers]


def check(stack: Stack) -> None:
    """Raises StackError naming the first layer whose shapes do not chain."""
    if not stack.layers:
        raise StackError("the model has no recurrent layer")
    width = stack.layers[0].input_size
    for index, layer in enumerate(stack.layers):
        rows = GATES[layer.cell] * layer.hidden_size
        expected = {
            "w": (rows, width),
            "r": (rows, layer.hidden_size),
            "wb": (rows,),
            "rb": (rows,),
        }
        for name, shape in expected.items():
            actual = getattr(layer, name).shape
            if actual != shape:
                raise StackError(
                    f"layer {index} ({layer.cell}): weight {name} has shape {actual}, "
                    f"expected {shape} for hidden size {layer.hidden_size} after width {width}"
                )
        width = layer.hidden_size
    for index, dense in enumerate(stack.head):
        if dense.w.shape[1] != width or dense.b.shape != (dense.w.shape[0],):
            raise StackError(
                f"dense layer {index}: weights {dense.w.shape} and bias {dense.b.shape} "
                f"do not fit an input of width {width}"
            )
        width = dense.w.shape[0]


def float32(value: NDArray[np.floating]) -> Matrix:
    return np.ascontiguousarray(value, dtype=np.float32)


def reorder_gates(value: NDArray[np.floating], order: list[int], hidden: int) -> Matrix:
    """The gate blocks of a (gates * hidden, ...) weight, taken in ``order``: how a framework's
    gate order becomes ONNX's."""
    return float32(np.concatenate([value[k * hidden : (k + 1) * hidden] for k in order]))
