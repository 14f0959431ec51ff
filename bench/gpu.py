"""The GPU benchmark, in one run: in-process timings per device by batch and hidden size, the
CUDA answers against the CPU's, and the server over HTTP with RNN_SERVE_PROVIDER cpu, cuda and
auto. Writes docs/benchmarks-gpu.md; part of `make bench`.

    python -m bench.gpu            # needs onnxruntime-gpu and a GPU (about 5 minutes)
    python -m bench.gpu --smoke    # any machine: small sizes, on the devices present, no file

Without CUDA it says so and writes nothing: CI has no GPU. On a lent GPU machine,
`../shared/tools/gpu-bundle.sh` prepares onnxruntime-gpu (its header explains how).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable

import numpy as np
import onnx
import onnxruntime as ort

from bench.core import seconds_per_call
from bench.load import OURS, OURS_ENV, PORT, ROOT, server, wrk
from bench.payloads import Payload, infer_path, predict_path
from rnn_serve.graphs.loop import loop_graph
from rnn_serve.graphs.native import native_graph
from rnn_serve.model.reference import random_stack

CPU, CUDA = "CPUExecutionProvider", "CUDAExecutionProvider"
DEVICES = {"cpu": [CPU], "cuda": [(CUDA, {"use_tf32": "0"})]}
STEPS = 48
REPORT = ROOT / "docs" / "benchmarks-gpu.md"
# A CPU call past this many multiply-adds (rows x steps x hidden^2) takes seconds: not timed.
CPU_WORK_LIMIT = 2e11
ARTIFACTS = ROOT / "model" / "artifacts"


def cuda_present() -> bool:
    return CUDA in ort.get_available_providers()


def inprocess(batches: tuple[int, ...], hiddens: tuple[int, ...], devices: list[str]) -> str:
    """ms per call of STEPS steps, one feature, per device and graph; then the largest
    difference between a device's answers and the CPU's."""
    head = "| hidden | device, graph | " + " | ".join(f"batch {b}" for b in batches) + " |"
    lines = [head, "| ---: | --- |" + " ---: |" * len(batches)]
    differences = []
    for hidden in hiddens:
        stack = random_stack(np.random.default_rng(0), 1, [("rnn", hidden)], [1], scale=0.1)
        native = native_graph(stack)
        graphs = {"RNN operator": native, "Scan": loop_graph(native)}
        answers: dict[str, np.ndarray] = {}
        for device in devices:
            for name, graph in graphs.items():
                run = _runner(graph, DEVICES[device], hidden)
                cells = _timings(run, device, hidden, batches)
                lines.append(f"| {hidden} | {device}, {name} | " + " | ".join(cells) + " |")
                print(lines[-1], flush=True)
                answers.setdefault(device, run(min(batches[-1], 256)))
        for device, answer in answers.items():
            if device != "cpu":
                gap = float(np.abs(answer - answers["cpu"]).max())
                differences.append(f"- hidden {hidden}: {device} against cpu, {gap:.2e}")
    return "\n".join([*lines, "", "Largest difference in outputs, TF32 off:", "", *differences])


def _timings(
    run: Callable[[int], np.ndarray], device: str, hidden: int, batches: tuple[int, ...]
) -> list[str]:
    cells = []
    for batch in batches:
        if device == "cpu" and batch * STEPS * hidden * hidden > CPU_WORK_LIMIT:
            cells.append("-")
        else:
            cells.append(f"{1000 * seconds_per_call(lambda b=batch: run(b), 0.3):.2f}")
    return cells


def _runner(
    graph: onnx.ModelProto, providers: list[object], hidden: int
) -> Callable[[int], np.ndarray]:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(graph.SerializeToString(), options, providers=providers)
    inputs = np.random.default_rng(1).normal(size=(1, STEPS, 1)).astype(np.float32)

    def run(batch: int) -> np.ndarray:
        feeds = {
            "inputs": np.repeat(inputs, batch, axis=0),
            "initial_state": np.zeros((batch, hidden), np.float32),
        }
        return session.run(["outputs"], feeds)[0]

    return run


def cuda_floor_ms(rows: int) -> float:
    """The shipped co2 graph on CUDA, in process: ms per call of (rows, STEPS, 1)."""
    session = ort.InferenceSession(str(ARTIFACTS / "co2.onnx"), providers=DEVICES["cuda"])
    feeds = {
        "inputs": np.zeros((rows, STEPS, 1), np.float32),
        "initial_state": np.zeros((rows, 32), np.float32),
    }
    return 1000 * seconds_per_call(lambda: session.run(None, feeds), 1.0)


def over_http(providers: list[str], seconds: float) -> tuple[str, dict[str, tuple[float, float]]]:
    """req/s of small /v1 predictions at 32 connections and of (1024, STEPS, 1) binary /v2
    requests at 8, against a server with each RNN_SERVE_PROVIDER."""
    rng = np.random.default_rng(0)
    small = Payload("small", "co2", rng.normal(size=(1, STEPS, 1)).astype(np.float32))
    large = Payload("large", "co2", rng.normal(size=(1024, STEPS, 1)).astype(np.float32))
    cores = f"0-{max(0, (os.cpu_count() or 2) - 2)}"  # wrk keeps the last core
    found = {}
    for provider in providers:
        env = OURS_ENV | {"RNN_SERVE_PROVIDER": provider}
        with server(OURS, PORT, env, "/v2/health/ready", cores=cores) as running:
            small_rps = wrk(running, predict_path(small), small.v1_json(), {}, 32, seconds)
            body, headers = large.v2_binary()
            large_rps = wrk(running, infer_path(large), body, headers, 8, seconds)
        found[provider] = (small_rps.requests_per_s, large_rps.requests_per_s)
        print(provider, found[provider], flush=True)
    lines = [
        "| RNN_SERVE_PROVIDER | small (1, 48, 1) /v1, c=32: req/s | (1024, 48, 1) binary /v2, "
        "c=8: req/s |",
        "| --- | ---: | ---: |",
        *(f"| {p} | {s:,.0f} | {b:,.0f} |" for p, (s, b) in found.items()),
    ]
    return "\n".join(lines), found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    if args.smoke:
        devices = ["cpu", "cuda"] if cuda_present() else ["cpu"]
        print(inprocess((1, 16), (32,), devices))
        print(over_http(["cpu"], 1)[0])
        return
    if not cuda_present():
        print("no CUDAExecutionProvider here (CI has no GPU): nothing measured, nothing written")
        return
    timings = inprocess((1, 64, 1024, 8192), (32, 256, 1024), ["cpu", "cuda"])
    table, found = over_http(["cpu", "cuda", "auto"], 10)
    floor_rps = 1000 / cuda_floor_ms(1024)
    ratios = (
        f"- auto / cpu, small requests: {found['auto'][0] / found['cpu'][0]:.2f} (target: 1.00)\n"
        f"- auto, (1024, 48, 1) binary / the in-process CUDA floor ({floor_rps:,.0f} calls/s): "
        f"{found['auto'][1] / floor_rps:.2f} (target: 0.80)"
    )
    REPORT.write_text(_report(timings, table, ratios, ort.get_device()))
    print(REPORT.read_text())


def _report(timings: str, table: str, ratios: str, device: str) -> str:
    return (
        "# GPU benchmark\n\n"
        "`python -m bench.gpu`, one run. In process: ms per call of 48 steps, one feature, "
        "one thread on the CPU, TF32 off on CUDA (`-`: not timed, seconds a call). Over HTTP: "
        "the server with each provider, wrk on its own core.\n\n"
        f"ONNX Runtime {ort.__version__}, device {device}.\n\n"
        f"{timings}\n\n{table}\n\n{ratios}\n"
    )


if __name__ == "__main__":
    main()
