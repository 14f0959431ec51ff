"""Requests of different lengths in one batch: grouped by step count, or padded.

Grouping (what the batcher does) runs one call per distinct step count on the shipped graphs.
Padding runs one call for everyone: rows padded with zeros to the longest, through ONNX's
RNN operator with ``sequence_lens`` (the only one of our graphs that can stop each row at its
own length and still return its final state). `python -m bench.padding`; 32 one-row requests
of 48 steps or fewer, on one core.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import numpy as np
import onnx
from onnx import helper, numpy_helper

from bench.core import MODEL, STEPS, session
from bench.seed_graph import F32, IR_VERSION, OPSET, seed_weights
from rnn_serve.service.runtime.loader import load_models

REQUESTS = 32
MIXES = {  # distinct step counts among the requests
    "all 48 steps": [STEPS],
    "2 lengths (24, 48)": [24, STEPS],
    "8 lengths (6 to 48)": list(range(6, STEPS + 1, 6)),
    "32 lengths (17 to 48)": list(range(17, STEPS + 1)),
}


def rnn_with_lengths(weights: dict[str, np.ndarray]) -> onnx.ModelProto:
    """The RNN operator fed ``sequence_lens``, then the output projection."""
    hidden, features = weights["i_w"].shape
    width = weights["o_w"].shape[0]
    tensor = helper.make_tensor_value_info
    constants = {
        "W": weights["i_w"][None],
        "R": weights["h_w"][None],
        "B": np.concatenate([weights["i_b"], weights["h_b"]])[None],
        "O_T": weights["o_w"].T,
        "O_B": weights["o_b"],
    }
    node = helper.make_node
    nodes = [
        node("Transpose", ["inputs"], ["x"], perm=[1, 0, 2]),  # the operator is time-major
        node("Unsqueeze", ["initial_state", "AXIS0"], ["h0"]),
        node("RNN", ["x", "W", "R", "B", "lengths", "h0"], ["y", "y_h"], hidden_size=hidden),
        node("Squeeze", ["y", "AXIS1"], ["states_tm"]),
        node("Squeeze", ["y_h", "AXIS0"], ["state"]),
        node("Transpose", ["states_tm"], ["states"], perm=[1, 0, 2]),
        node("MatMul", ["states", "O_T"], ["projected"]),
        node("Add", ["projected", "O_B"], ["outputs"]),
    ]
    initializers = [
        numpy_helper.from_array(np.ascontiguousarray(v, np.float32), k)
        for k, v in constants.items()
    ]
    initializers += [
        numpy_helper.from_array(np.array([axis], np.int64), f"AXIS{axis}") for axis in (0, 1)
    ]
    graph = helper.make_graph(
        nodes,
        "rnn_lengths",
        [
            tensor("inputs", F32, ["batch", "steps", features]),
            tensor("initial_state", F32, ["batch", hidden]),
            tensor("lengths", onnx.TensorProto.INT32, ["batch"]),
        ],
        [
            tensor("outputs", F32, ["batch", "steps", width]),
            tensor("state", F32, ["batch", hidden]),
        ],
        initializers,
    )
    return helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION
    )


def best_of(fn: Callable[[], object], repeats: int = 200) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> list[str]:
    os.sched_setaffinity(0, {0})
    weights = seed_weights(MODEL)
    hidden = weights["h_w"].shape[0]
    predictor = load_models(MODEL.parent, ["CPUExecutionProvider"], threads=1)["co2"].predictor
    padded_graph = session(rnn_with_lengths(weights))
    rng = np.random.default_rng(0)
    lines = [
        f"| {REQUESTS} one-row requests | groups | grouped ms | padded ms | padded / grouped |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for mix, lengths in MIXES.items():
        steps = [lengths[i % len(lengths)] for i in range(REQUESTS)]
        rows = [rng.normal(size=(1, s, 1)).astype(np.float32) for s in steps]
        groups = {s: np.concatenate([r for r in rows if r.shape[1] == s]) for s in set(steps)}

        def grouped(groups: dict[int, np.ndarray] = groups) -> None:
            for inputs in groups.values():
                predictor.run(inputs)

        def padded(rows: list[np.ndarray] = rows) -> list[np.ndarray]:
            return padded_graph.run(None, padded_feeds(rows, hidden))

        outputs, state = padded()
        for i, row in enumerate(rows):  # padding must give each request what it gets alone
            alone_outputs, alone_state = predictor.run(row)
            np.testing.assert_allclose(outputs[i, : row.shape[1]], alone_outputs[0], atol=1e-5)
            np.testing.assert_allclose(state[i], alone_state[0], atol=1e-5)
        g, p = best_of(grouped), best_of(padded)
        lines.append(f"| {mix} | {len(groups)} | {g * 1e3:.3f} | {p * 1e3:.3f} | {p / g:.2f} |")
    os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
    print("\n".join(lines))
    return lines


def padded_feeds(rows: list[np.ndarray], hidden: int) -> dict[str, np.ndarray]:
    """Every row zero-padded to the longest, with its own length beside it."""
    lengths = [row.shape[1] for row in rows]
    inputs = np.zeros((len(rows), max(lengths), rows[0].shape[2]), np.float32)
    for i, row in enumerate(rows):
        inputs[i, : row.shape[1]] = row[0]
    return {
        "inputs": inputs,
        "initial_state": np.zeros((len(rows), hidden), np.float32),
        "lengths": np.array(lengths, np.int32),
    }


if __name__ == "__main__":
    main()
