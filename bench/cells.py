"""Each cell's two graphs, in process on one core: ms per call of 48 steps, one feature, by
batch size (ONNX Runtime's operator / the Scan loop). `python -m bench.cells`

Shows where the loop graph wins (the Elman cell, from a few rows) and where ONNX Runtime's own
GRU and LSTM kernels do; the service measures the same at start-up for each model.
"""

from __future__ import annotations

import os

import numpy as np
import onnx

from bench.core import seconds_per_call, session
from rnn_serve.graphs.loop import loop_graph
from rnn_serve.graphs.native import native_graph
from rnn_serve.model.reference import random_stack

BATCHES = (1, 4, 16, 64, 256)
CASES = (("rnn", 32), ("gru", 32), ("lstm", 32), ("rnn", 128), ("gru", 128), ("lstm", 128))


def ms_per_call(model: onnx.ModelProto, batch: int, state_size: int) -> float:
    runner = session(model)
    feeds = {
        "inputs": np.zeros((batch, 48, 1), np.float32),
        "initial_state": np.zeros((batch, state_size), np.float32),
    }
    return 1000 * seconds_per_call(lambda: runner.run(None, feeds), budget=0.3)


def main() -> list[str]:
    os.sched_setaffinity(0, {0})
    lines = [
        "| cell, hidden | " + " | ".join(f"batch {b}" for b in BATCHES) + " |",
        "| --- |" + " ---: |" * len(BATCHES),
    ]
    for cell, hidden in CASES:
        stack = random_stack(np.random.default_rng(0), 1, [(cell, hidden)], [1], scale=0.1)
        native = native_graph(stack)
        graphs = (native, loop_graph(native))
        cells = [
            " / ".join(f"{ms_per_call(g, batch, stack.state_size):.2f}" for g in graphs)
            for batch in BATCHES
        ]
        lines.append(f"| {cell} {hidden} | " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
    return lines


if __name__ == "__main__":
    print("\n".join(main()))
