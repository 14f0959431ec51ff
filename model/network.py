"""The seed's cell: S_t = tanh(i_w x_t + i_b + h_w S_{t-1} + h_b), Output_t = S_t O_w + O_b."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn


@dataclass(frozen=True)
class RNNConfig:
    """Shape of a single-layer Elman RNN.

    With ``output_size=None`` there is no output projection and the per-step outputs are the
    hidden states themselves, like the ``vals`` of TensorFlow's ``dynamic_rnn``.
    """

    features: int
    hidden_size: int
    output_size: int | None = None

    @property
    def output_width(self) -> int:
        return self.output_size if self.output_size is not None else self.hidden_size


class ElmanRNN(nn.Module):
    """``forward(inputs, initial_state) -> (outputs, state)``, batch first.

    ``torch.nn.RNN`` with tanh is exactly the seed's recurrence, two biases included, and the
    TorchScript ONNX exporter turns it into the native ONNX ``RNN`` operator with dynamic axes.
    """

    def __init__(self, config: RNNConfig) -> None:
        super().__init__()
        self.config = config
        self.cell = nn.RNN(
            config.features, config.hidden_size, nonlinearity="tanh", batch_first=True
        )
        self.head = (
            nn.Linear(config.hidden_size, config.output_size) if config.output_size else None
        )

    def forward(
        self, inputs: torch.Tensor, initial_state: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        states, last = self.cell(inputs, initial_state.unsqueeze(0))
        outputs = self.head(states) if self.head is not None else states
        return outputs, last.squeeze(0)

    def zero_state(self, batch: int) -> torch.Tensor:
        return torch.zeros(batch, self.config.hidden_size)

    def numpy_weights(self) -> dict[str, NDArray[np.float32]]:
        """The weights named as in the seed, for the NumPy reference and the Scan graph."""
        weights = {
            "i_w": self.cell.weight_ih_l0,
            "i_b": self.cell.bias_ih_l0,
            "h_w": self.cell.weight_hh_l0,
            "h_b": self.cell.bias_hh_l0,
        }
        if self.head is not None:
            weights |= {"o_w": self.head.weight, "o_b": self.head.bias}
        return {name: value.detach().numpy().copy() for name, value in weights.items()}
