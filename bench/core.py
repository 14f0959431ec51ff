"""The inference core on one CPU core: ONNX Runtime's RNN operator against the alternatives.

Prints ms per call and GFLOP/s for the native RNN operator, an unrolled MatMul graph and
ONNX Scan loops, at several batch sizes; graph optimisation levels and thread counts for the
native graph; a GEMM roofline measured on the same core; and the floor under any graph of
this RNN: its 48 dependent GEMMs and its tanh, each run back to back with no loop around
them. `python -m bench.core`
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from bench import graphs
from bench.seed_graph import seed_weights, shipped_loop

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "model" / "artifacts" / "co2.onnx"
STEPS = 48
LEVELS = {
    "disable_all": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}


def session(
    model: onnx.ModelProto | Path, threads: int = 1, level: str = "all"
) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = LEVELS[level]
    source = str(model) if isinstance(model, Path) else model.SerializeToString()
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def seconds_per_call(run, budget: float = 0.5) -> float:
    run()
    calls, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < budget or calls < 5:
        run()
        calls += 1
    return elapsed / calls


def flops(batch: int, weights: dict[str, np.ndarray]) -> float:
    hidden, features = weights["i_w"].shape
    width = weights["o_w"].shape[0] if "o_w" in weights else 0
    return 2.0 * batch * STEPS * (features * hidden + hidden * hidden + hidden * width)


def time_rnn(sess: ort.InferenceSession, batch: int, hidden: int) -> float:
    feeds = {
        "inputs": np.random.default_rng(0).normal(size=(batch, STEPS, 1)).astype(np.float32),
        "initial_state": np.zeros((batch, hidden), np.float32),
    }
    return seconds_per_call(lambda: sess.run(None, feeds))


def gemm_roofline(threads: int = 1) -> float:
    """Single-core sgemm GFLOP/s on a large square MatMul, through ONNX Runtime's MLAS."""
    n = 512
    a = np.random.default_rng(0).normal(size=(n, n)).astype(np.float32)
    node = onnx.helper.make_node("MatMul", ["a", "b"], ["c"])
    info = [onnx.helper.make_tensor_value_info(x, onnx.TensorProto.FLOAT, [n, n]) for x in "abc"]
    graph = onnx.helper.make_graph([node], "gemm", info[:2], info[2:])
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)])
    sess = session(model, threads)
    per_call = seconds_per_call(lambda: sess.run(None, {"a": a, "b": a}))
    return 2 * n**3 / per_call / 1e9


def gemms_and_tanh_seconds(batch: int, weights: dict[str, np.ndarray]) -> float:
    """The recurrence's work alone: STEPS chained (batch x hidden) @ (hidden x hidden) MatMuls
    in one graph, plus one Tanh over every step's states at once."""
    hidden = weights["h_w"].shape[0]
    helper, tensor = onnx.helper, onnx.helper.make_tensor_value_info
    chain = [helper.make_node("MatMul", ["h", "R"], ["h0"])] + [
        helper.make_node("MatMul", [f"h{t - 1}", "R"], [f"h{t}"]) for t in range(1, STEPS)
    ]
    gemms = helper.make_graph(
        chain,
        "gemms",
        [tensor("h", onnx.TensorProto.FLOAT, ["batch", hidden])],
        [tensor(f"h{STEPS - 1}", onnx.TensorProto.FLOAT, ["batch", hidden])],
        [onnx.numpy_helper.from_array(weights["h_w"] / hidden, "R")],
    )
    tanh = helper.make_graph(
        [helper.make_node("Tanh", ["x"], ["y"])],
        "tanh",
        [tensor("x", onnx.TensorProto.FLOAT, ["n"])],
        [tensor("y", onnx.TensorProto.FLOAT, ["n"])],
    )
    opset = [helper.make_opsetid("", 17)]
    h = np.full((batch, hidden), 0.5, np.float32)
    x = np.full(batch * hidden * STEPS, 0.5, np.float32)
    gemm_sess = session(helper.make_model(gemms, opset_imports=opset))
    tanh_sess = session(helper.make_model(tanh, opset_imports=opset))
    return seconds_per_call(lambda: gemm_sess.run(None, {"h": h})) + seconds_per_call(
        lambda: tanh_sess.run(None, {"x": x})
    )


def by_hidden_size(roofline: float) -> list[str]:
    """The shipped Scan graph and the floor at wider hidden states (random weights): the share
    of peak is a matter of the model's size."""
    rng = np.random.default_rng(0)
    lines = [
        "| shipped Scan graph, other hidden sizes | batch | ms/call | of peak | floor: of peak |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for hidden in (32, 64, 128):
        weights = {
            "i_w": rng.normal(size=(hidden, 1)).astype(np.float32),
            "i_b": np.zeros(hidden, np.float32),
            "h_w": (rng.normal(size=(hidden, hidden)) / hidden).astype(np.float32),
            "h_b": np.zeros(hidden, np.float32),
            "o_w": rng.normal(size=(1, hidden)).astype(np.float32),
            "o_b": np.zeros(1, np.float32),
        }
        sess = session(shipped_loop(weights))
        for batch in (64, 256):
            t = time_rnn(sess, batch, hidden)
            floor = 2.0 * batch * STEPS * hidden**2 / gemms_and_tanh_seconds(batch, weights)
            lines.append(
                f"| hidden {hidden} | {batch} | {t * 1e3:.3f} | "
                f"{flops(batch, weights) / t / 1e9 / roofline:.0%} | {floor / 1e9 / roofline:.0%} |"
            )
    return lines


def main() -> list[str]:
    os.sched_setaffinity(0, {0})
    weights = seed_weights(MODEL)
    hidden = weights["h_w"].shape[0]
    roofline = gemm_roofline()
    variants: dict[str, ort.InferenceSession | None] = {
        "floor: the GEMMs and tanh alone": None,
        "RNN operator (shipped)": session(MODEL),
        "Scan, time-major (shipped)": session(shipped_loop(weights)),
        "Scan, batch-major": session(graphs.scan_batch_major(weights)),
        f"unrolled MatMul ({STEPS} steps)": session(graphs.unrolled(weights, STEPS)),
        "Scan, projection per step": session(graphs.scan_per_step(weights)),
    }
    lines = [
        f"GEMM roofline (512x512x512 MatMul, 1 thread): {roofline:.1f} GFLOP/s",
        "",
        f"| graph (co2: hidden {hidden}, steps {STEPS}) | batch | ms/call | GFLOP/s | of peak |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, sess in variants.items():
        for batch in (1, 4, 64, 256):
            if sess is None:  # the recurrence's FLOPs only: no projections were timed
                t, work = gemms_and_tanh_seconds(batch, weights), 2.0 * batch * STEPS * hidden**2
            else:
                t, work = time_rnn(sess, batch, hidden), flops(batch, weights)
            gflops = work / t / 1e9
            lines.append(
                f"| {name} | {batch} | {t * 1e3:.3f} | {gflops:.2f} | {gflops / roofline:.0%} |"
            )
    lines += ["", *by_hidden_size(roofline)]
    lines += ["", "| RNN operator, batch 256 | ms/call |", "| --- | ---: |"]
    for level in LEVELS:
        per_call = time_rnn(session(MODEL, 1, level), 256, hidden)
        lines.append(f"| optimisation {level} | {per_call * 1e3:.3f} |")
    os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
    for threads in (1, 2):
        per_call = time_rnn(session(MODEL, threads), 256, hidden)
        lines.append(f"| {threads} intra-op thread(s), both cores | {per_call * 1e3:.3f} |")
    print("\n".join(lines))
    return lines


if __name__ == "__main__":
    main()
