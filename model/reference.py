"""A plain NumPy Elman RNN: the seed's equations written out, used by tests as an oracle."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.floating]


def elman_rnn(
    inputs: Array,
    initial_state: Array,
    i_w: Array,
    i_b: Array,
    h_w: Array,
    h_b: Array,
    o_w: Array | None = None,
    o_b: Array | None = None,
) -> tuple[Array, Array]:
    """Run the recurrence step by step in float64.

    Shapes: inputs (batch, steps, features), initial_state (batch, hidden), i_w (hidden, features),
    h_w (hidden, hidden), o_w (out, hidden). Returns outputs (batch, steps, out) and the final
    state (batch, hidden).
    """
    state = initial_state.astype(np.float64)
    per_step = []
    for x_t in np.swapaxes(inputs.astype(np.float64), 0, 1):
        state = np.tanh((x_t @ i_w.T + i_b) + (state @ h_w.T + h_b))
        per_step.append(state if o_w is None else state @ o_w.T + o_b)
    width = o_w.shape[0] if o_w is not None else h_w.shape[0]
    outputs = np.stack(per_step, axis=1) if per_step else np.zeros((len(state), 0, width))
    return outputs, state
