"""A plain NumPy run of a recurrent stack: the cells' equations written out, step by step, in
float64. Tests use it as the oracle for every graph and every converter.

The equations are ONNX's (and the seed's, for the Elman cell):
  rnn:  h = act(x Wᵀ + Wb + h Rᵀ + Rb)
  gru:  z = sigmoid(x Wzᵀ + Wbz + h Rzᵀ + Rbz), r likewise,
        n = tanh(x Whᵀ + Wbh + r ⊙ (h Rhᵀ + Rbh))      reset after (PyTorch, Keras' default)
        n = tanh(x Whᵀ + Wbh + (r ⊙ h) Rhᵀ + Rbh)      reset before (Keras reset_after=False)
        h = (1 - z) ⊙ n + z ⊙ h
  lstm: i, o, f = sigmoid(...), g = tanh(...), c = f ⊙ c + i ⊙ g, h = o ⊙ tanh(c)
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from rnn_serve.graphs.stack import Dense, Recurrent, Stack

Array = NDArray[np.float64]
ACTIVATIONS = {
    "linear": lambda v: v,
    "relu": lambda v: np.maximum(v, 0.0),
    "tanh": np.tanh,
    "sigmoid": lambda v: 1.0 / (1.0 + np.exp(-v)),
}
sigmoid = ACTIVATIONS["sigmoid"]


def run_stack(
    stack: Stack, inputs: NDArray[np.floating], state: NDArray[np.floating]
) -> tuple[Array, Array]:
    """inputs (batch, steps, features), state (batch, state_size) -> outputs, final state."""
    sequence = inputs.astype(np.float64)
    finals, offset = [], 0
    for layer in stack.layers:
        parts = 2 if layer.cell == "lstm" else 1
        width = parts * layer.hidden_size
        carried = state[:, offset : offset + width].astype(np.float64)
        offset += width
        sequence, carried = run_layer(layer, sequence, carried)
        finals.append(carried)
    for dense in stack.head:
        sequence = apply_dense(dense, sequence)
    return sequence, np.concatenate(finals, axis=1)


def run_layer(layer: Recurrent, inputs: Array, carried: Array) -> tuple[Array, Array]:
    hidden = layer.hidden_size
    h, c = carried[:, :hidden], carried[:, hidden:]
    w, r = layer.w.astype(np.float64), layer.r.astype(np.float64)
    wb, rb = layer.wb.astype(np.float64), layer.rb.astype(np.float64)
    per_step = []
    for x in np.swapaxes(inputs, 0, 1):
        xw, hr = x @ w.T + wb, h @ r.T + rb
        if layer.cell == "rnn":
            h = ACTIVATIONS[layer.activation](xw + hr)
        elif layer.cell == "gru":
            z = sigmoid(xw[:, :hidden] + hr[:, :hidden])
            reset = sigmoid(xw[:, hidden : 2 * hidden] + hr[:, hidden : 2 * hidden])
            if layer.reset_after:
                recurrent = reset * hr[:, 2 * hidden :]
            else:
                recurrent = (reset * h) @ r[2 * hidden :].T + rb[2 * hidden :]
            n = np.tanh(xw[:, 2 * hidden :] + recurrent)
            h = (1 - z) * n + z * h
        else:
            gates = xw + hr
            i, o, f = (sigmoid(gates[:, k * hidden : (k + 1) * hidden]) for k in range(3))
            c = f * c + i * np.tanh(gates[:, 3 * hidden :])
            h = o * np.tanh(c)
        per_step.append(h)
    outputs = np.stack(per_step, axis=1) if per_step else np.zeros((len(h), 0, hidden))
    return outputs, np.concatenate([h, c], axis=1) if layer.cell == "lstm" else h


def apply_dense(dense: Dense, sequence: Array) -> Array:
    return ACTIVATIONS[dense.activation](sequence @ dense.w.T.astype(np.float64) + dense.b)


def random_stack(
    rng: np.random.Generator,
    features: int,
    layers: list[tuple[str, int]],
    head: list[int] = (),  # type: ignore[assignment]
    scale: float = 0.5,
    **variant: object,
) -> Stack:
    """Random weights for a stack of (cell, hidden) layers and a head of dense widths."""

    def matrix(*shape: int) -> NDArray[np.float32]:
        return rng.uniform(-scale, scale, size=shape).astype(np.float32)

    recurrent, width = [], features
    for cell, hidden in layers:
        rows = {"rnn": 1, "gru": 3, "lstm": 4}[cell] * hidden
        recurrent.append(
            Recurrent(
                cell,  # type: ignore[arg-type]
                matrix(rows, width),
                matrix(rows, hidden),
                matrix(rows),
                matrix(rows),
                **variant,  # type: ignore[arg-type]
            )
        )
        width = hidden
    dense = []
    for out in head:
        dense.append(Dense(matrix(out, width), matrix(out)))
        width = out
    return Stack(tuple(recurrent), tuple(dense))
