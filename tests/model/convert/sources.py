"""Models as users bring them: Keras files and PyTorch state_dicts of each cell, depth and
head, with each framework's own answer (from any initial state) to compare the service with."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")

FEATURES, HIDDEN, HEAD = 3, 5, 2
Answer = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray | None]]


@dataclass(frozen=True)
class SourceModel:
    """A file to convert and the framework's answer: (outputs, state) from a flat state in
    the service's layout. ``last_step_only``: the framework's outputs are outputs[:, -1:]."""

    name: str
    path: Path
    answer: Answer
    state_size: int
    last_step_only: bool = False


KERAS_CELLS = {
    "simplernn": ("SimpleRNN", {}),
    "gru": ("GRU", {"reset_after": True}),
    "gru-reset-before": ("GRU", {"reset_after": False}),
    "lstm": ("LSTM", {}),
}
TORCH_CELLS = {"rnn": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}


def keras_source(directory: Path, cell: str, depth: int, head: bool, seed: int = 0) -> SourceModel:
    """A Sequential model; with depth 2 and a head, the last recurrent layer returns only its
    last step (then Dense applies to it), as many Keras forecasters do."""
    import keras

    keras.utils.set_random_seed(seed)
    kind, variant = KERAS_CELLS[cell]
    last_step_only = depth == 2 and head
    layers: list = [keras.Input((None, FEATURES))]
    for index in range(depth):
        sequences = not (last_step_only and index == depth - 1)
        layers.append(
            getattr(keras.layers, kind)(
                HIDDEN, return_sequences=sequences, bias_initializer="random_normal", **variant
            )
        )
        layers.append(keras.layers.Dropout(0.2))  # ignored at inference, as by Keras
    if head:
        layers.append(keras.layers.Dense(HEAD))
    model = keras.Sequential(layers)
    name = f"keras-{cell}-{depth}{'-head' if head else ''}"
    path = directory / f"{name}.keras"
    model.save(path)
    parts = 2 if kind == "LSTM" else 1
    return SourceModel(name, path, keras_answer(model), depth * parts * HIDDEN, last_step_only)


def keras_answer(model) -> Answer:
    """The model's layers called one by one, each recurrent one from its slice of the state."""
    import keras

    def answer(inputs: np.ndarray, state: np.ndarray) -> tuple[np.ndarray, None]:
        x, offset = keras.ops.convert_to_tensor(inputs), 0
        for layer in model.layers:
            if isinstance(layer, keras.layers.RNN):
                width = layer.cell.units
                parts = 2 if isinstance(layer.cell, keras.layers.LSTMCell) else 1
                initial = [
                    state[:, offset + k * width : offset + (k + 1) * width] for k in range(parts)
                ]
                offset += parts * width
                x = layer(x, initial_state=[keras.ops.convert_to_tensor(s) for s in initial])
            else:
                x = layer(x, training=False)
        result = keras.ops.convert_to_numpy(x)
        return (result[:, None, :] if result.ndim == 2 else result), None

    return answer


class TorchForecaster(torch.nn.Module):
    """How users write one: a recurrent module and a head, under their own names."""

    def __init__(self, cell: str, depth: int, head: bool) -> None:
        super().__init__()
        self.encoder = TORCH_CELLS[cell](FEATURES, HIDDEN, num_layers=depth, batch_first=True)
        self.proj = torch.nn.Linear(HIDDEN, HEAD) if head else None

    def forward(self, x, h0):
        y, h = self.encoder(x, h0)
        return (self.proj(y) if self.proj is not None else y), h


def torch_source(directory: Path, cell: str, depth: int, head: bool, seed: int = 0) -> SourceModel:
    torch.manual_seed(seed)
    module = TorchForecaster(cell, depth, head).eval()
    name = f"torch-{cell}-{depth}{'-head' if head else ''}"
    path = directory / f"{name}.pt"
    torch.save(module.state_dict(), path)
    parts = 2 if cell == "lstm" else 1

    def answer(inputs: np.ndarray, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # the service's flat state -> PyTorch's (layers, batch, hidden) per part, and back
        split = torch.from_numpy(state).reshape(len(state), depth, parts, HIDDEN)
        per_part = split.permute(2, 1, 0, 3).contiguous()
        h0 = (per_part[0], per_part[1]) if parts == 2 else per_part[0]
        with torch.no_grad():
            outputs, last = module(torch.from_numpy(inputs), h0)
        stacked = torch.stack(last) if parts == 2 else last.unsqueeze(0)
        return outputs.numpy(), stacked.permute(2, 1, 0, 3).reshape(len(state), -1).numpy()

    return SourceModel(name, path, answer, depth * parts * HIDDEN)
