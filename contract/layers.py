"""What a recurrent model is made of: its layers, in order, and the layout of its state.

A served model keeps one opaque state per sequence, ``state`` (batch, state_size): each layer's
state, concatenated in layer order, and an LSTM layer's as h then c. Clients that only carry
the state from one call to the next never need this; those that read it (to inspect, or to
seed a sequence from another model) find each part's columns in ``state_layout``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Cell = Literal["rnn", "gru", "lstm"]
STATE_PARTS: dict[str, tuple[str, ...]] = {"rnn": ("h",), "gru": ("h",), "lstm": ("h", "c")}


class LayerSpec(BaseModel):
    """One recurrent layer: its cell, its width, and the variant of the cell."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cell: Cell
    hidden_size: int = Field(gt=0)
    activation: Literal["tanh", "relu"] | None = Field(
        default=None, description="The Elman cell's nonlinearity (rnn only)."
    )
    reset_after: bool | None = Field(
        default=None,
        description="GRU only: the reset gate applies after the recurrent matmul "
        "(PyTorch, and Keras' default) or before it (Keras with reset_after=False).",
    )

    @property
    def state_size(self) -> int:
        return self.hidden_size * len(STATE_PARTS[self.cell])


class StatePart(BaseModel):
    """Columns [start, stop) of ``state`` hold ``part`` of layer ``layer``."""

    model_config = ConfigDict(frozen=True)

    layer: int
    cell: Cell
    part: str
    start: int
    stop: int


def state_layout(layers: list[LayerSpec]) -> list[StatePart]:
    parts, start = [], 0
    for index, layer in enumerate(layers):
        for part in STATE_PARTS[layer.cell]:
            stop = start + layer.hidden_size
            parts.append(StatePart(layer=index, cell=layer.cell, part=part, start=start, stop=stop))
            start = stop
    return parts
