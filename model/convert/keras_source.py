"""A Keras 3 model file (``.keras``, or legacy ``.h5``) read as a Stack, on the torch backend:
no TensorFlow needed.

Converts SimpleRNN, GRU (reset_after true or false) and LSTM layers stacked in any mix, then
Dense layers applied to every step; Dropout is ignored, as at inference. Everything else is
refused, naming the layer and why.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rnn_serve.graphs.stack import Dense, Recurrent, Stack, StackError, float32, reorder_gates
from rnn_serve.model.convert.errors import ConversionError

os.environ.setdefault("KERAS_BACKEND", "torch")

# Keras' gate blocks, in ONNX's order: GRU z, r, h is ONNX's; LSTM i, f, c, o -> i, o, f, c.
TO_ONNX_ORDER = {"rnn": [0], "gru": [0, 1, 2], "lstm": [0, 3, 1, 2]}
IGNORED = ("InputLayer", "Dropout")
DENSE_ACTIVATIONS = ("linear", "relu", "tanh", "sigmoid")
WHY_NOT = {
    "Bidirectional": "a bidirectional layer reads each sequence backwards too, which a served "
    "stream of steps cannot do",
    "Masking": "masking skips steps by value, and the service runs every step it is sent: "
    "remove the Masking layer and send only real steps",
}


@dataclass(frozen=True)
class KerasModel:
    stack: Stack
    model: Any  # the keras.Model, to check the conversion against
    last_step_only: bool  # the model's own output is outputs[:, -1]
    version: str


def read_keras(path: Path) -> KerasModel:
    import keras

    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as error:
        raise ConversionError(f"{path.name}: Keras cannot load it: {error}") from error
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ConversionError(
            f"the model has {len(model.inputs)} inputs and {len(model.outputs)} outputs; "
            "only a single chain of layers converts"
        )
    recurrent: list[Recurrent] = []
    head: list[Dense] = []
    last_step_only = False
    for layer in model.layers:
        kind = type(layer).__name__
        where = f"layer {layer.name!r} ({kind})"
        if kind in IGNORED:
            continue
        if isinstance(layer, keras.layers.RNN) and not head:
            if last_step_only:
                raise ConversionError(f"{where}: follows a layer that returns only its last step")
            recurrent.append(_recurrent(layer, where))
            last_step_only = not layer.return_sequences
        elif isinstance(layer, keras.layers.Dense) and recurrent:
            head.append(_dense(layer, where))
        else:
            raise ConversionError(f"{where}: {_why_not(kind, recurrent, head)}")
    try:
        stack = Stack(tuple(recurrent), tuple(head))
    except StackError as error:
        raise ConversionError(str(error)) from error
    return KerasModel(stack, model, last_step_only, keras.__version__)


def _why_not(kind: str, recurrent: list[Recurrent], head: list[Dense]) -> str:
    if kind in WHY_NOT:
        return WHY_NOT[kind] + "; it is not supported"
    if kind == "Dense" and not recurrent:
        return "a Dense layer before the first recurrent layer is not supported"
    if head and kind in ("SimpleRNN", "GRU", "LSTM", "RNN"):
        return "a recurrent layer after a Dense layer is not supported"
    return (
        "is not supported: SimpleRNN, GRU and LSTM layers, then Dense layers, convert "
        "(Dropout is ignored)"
    )


def _recurrent(layer: Any, where: str) -> Recurrent:
    import keras

    cell = layer.cell
    kind = {
        keras.layers.SimpleRNNCell: "rnn",
        keras.layers.GRUCell: "gru",
        keras.layers.LSTMCell: "lstm",
    }.get(type(cell))
    if kind is None:
        raise ConversionError(f"{where}: its cell {type(cell).__name__} is not supported")
    if layer.go_backwards:
        raise ConversionError(f"{where}: go_backwards runs the sequence in reverse; not supported")
    activation = keras.activations.serialize(cell.activation)
    allowed = ("tanh", "relu") if kind == "rnn" else ("tanh",)
    if activation not in allowed:
        raise ConversionError(f"{where}: activation {activation!r} (only {', '.join(allowed)})")
    if kind != "rnn":
        recurrent_activation = keras.activations.serialize(cell.recurrent_activation)
        if recurrent_activation != "sigmoid":
            raise ConversionError(
                f"{where}: recurrent_activation {recurrent_activation!r} (only 'sigmoid')"
            )
    hidden = cell.units
    kernel = np.asarray(keras.ops.convert_to_numpy(cell.kernel))
    recurrent_kernel = np.asarray(keras.ops.convert_to_numpy(cell.recurrent_kernel))
    rows = kernel.shape[1]
    bias = (
        np.asarray(keras.ops.convert_to_numpy(cell.bias))
        if cell.use_bias
        else np.zeros(rows, np.float32)
    )
    reset_after = bool(getattr(cell, "reset_after", True))
    # A GRU with reset_after has an input bias and a recurrent bias, stacked; others one bias.
    wb, rb = (bias[0], bias[1]) if bias.ndim == 2 else (bias, np.zeros_like(bias))
    order = TO_ONNX_ORDER[kind]
    return Recurrent(
        kind,  # type: ignore[arg-type]
        reorder_gates(kernel.T, order, hidden),
        reorder_gates(recurrent_kernel.T, order, hidden),
        reorder_gates(wb, order, hidden),
        reorder_gates(rb, order, hidden),
        activation=activation if kind == "rnn" else "tanh",
        reset_after=reset_after,
    )


def _dense(layer: Any, where: str) -> Dense:
    import keras

    activation = keras.activations.serialize(layer.activation)
    if activation not in DENSE_ACTIVATIONS:
        raise ConversionError(
            f"{where}: activation {activation!r} (only {', '.join(DENSE_ACTIVATIONS)})"
        )
    kernel = np.asarray(keras.ops.convert_to_numpy(layer.kernel))
    bias = (
        np.asarray(keras.ops.convert_to_numpy(layer.bias))
        if layer.use_bias
        else np.zeros(kernel.shape[1], np.float32)
    )
    return Dense(float32(kernel.T), float32(bias), activation)
