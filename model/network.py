"""A PyTorch recurrent stack with the served contract: ``forward(inputs, state) -> (outputs,
state)``, batch first, one flat state (batch, state_size) in the layout of contract/layers.py.

``cell="rnn"`` with one layer is the seed's cell: S_t = tanh(i_w x_t + i_b + h_w S_{t-1} + h_b),
Output_t = S_t O_w + O_b. Training builds on it, and conversion checks a PyTorch state_dict
against it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

MODULES: dict[str, Any] = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}


@dataclass(frozen=True)
class RNNConfig:
    """With ``output_size=None`` there is no head and the per-step outputs are the last
    layer's hidden states, like the ``vals`` of TensorFlow's ``dynamic_rnn``."""

    features: int
    hidden_size: int
    output_size: int | None = None
    cell: Literal["rnn", "gru", "lstm"] = "rnn"
    layers: int = 1
    nonlinearity: Literal["tanh", "relu"] = "tanh"

    @property
    def output_width(self) -> int:
        return self.output_size if self.output_size is not None else self.hidden_size

    @property
    def state_size(self) -> int:
        return self.layers * self.hidden_size * (2 if self.cell == "lstm" else 1)


class RecurrentNet(nn.Module):
    def __init__(self, config: RNNConfig) -> None:
        super().__init__()
        self.config = config
        extra = {"nonlinearity": config.nonlinearity} if config.cell == "rnn" else {}
        self.cell = MODULES[config.cell](
            config.features, config.hidden_size, config.layers, batch_first=True, **extra
        )
        self.head = (
            nn.Linear(config.hidden_size, config.output_size) if config.output_size else None
        )

    def forward(
        self, inputs: torch.Tensor, initial_state: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        states, last = self.cell(inputs, self._unflatten(initial_state))
        outputs = self.head(states) if self.head is not None else states
        return outputs, self._flatten(last)

    def zero_state(self, batch: int) -> torch.Tensor:
        return torch.zeros(batch, self.config.state_size)

    def _unflatten(self, state: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """(batch, state_size) -> PyTorch's (layers, batch, hidden), or (h, c) for an LSTM."""
        parts = 2 if self.config.cell == "lstm" else 1
        split = state.reshape(-1, self.config.layers, parts, self.config.hidden_size)
        per_part = split.permute(2, 1, 0, 3).contiguous()  # (parts, layers, batch, hidden)
        return (per_part[0], per_part[1]) if parts == 2 else per_part[0]

    def _flatten(self, last: torch.Tensor | tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        parts = torch.stack(last) if isinstance(last, tuple) else last.unsqueeze(0)
        return parts.permute(2, 1, 0, 3).flatten(1)  # (batch, layers, parts, hidden)
