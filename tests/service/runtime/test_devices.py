"""A model on two devices: each call goes where the cost model timed at start-up expects it to
finish sooner. CI has no GPU, so the GPU is played by a CPU session made slower on purpose in
the way a GPU is slow: a fixed cost a call (launch and copies), little per row."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest

from rnn_serve.service.engine.runner import ModelRunner
from rnn_serve.service.engine.threads import Threads
from rnn_serve.service.runtime.loader import ServedModel
from rnn_serve.service.runtime.predictor import Predictor
from rnn_serve.service.runtime.providers import CPU, CUDA, cpu_beside, device_of, name_of
from tests.support.models import ARTIFACTS, direct_run

LAUNCH_S = 0.002  # the "GPU": a fixed cost a call
ROW_STEP_S = 2e-6  # the "CPU": a cost per row and step


class Slowed:
    """An ONNX Runtime session that waits ``fixed`` seconds a call and ``per_row_step`` more for
    each row and step, then runs; it counts its calls."""

    def __init__(self, session: Any, fixed: float = 0.0, per_row_step: float = 0.0) -> None:
        self.session, self.fixed, self.per_row_step = session, fixed, per_row_step
        self.calls = 0

    def run(self, names: list[str], feeds: dict[str, np.ndarray]) -> Any:
        rows, steps = next(iter(feeds.values())).shape[:2]
        self.calls += 1
        time.sleep(self.fixed + self.per_row_step * rows * steps)
        return self.session.run(names, feeds)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.session, name)


@pytest.fixture(scope="module")
def two_devices() -> tuple[Predictor, Predictor]:
    """(the "GPU" predictor, the CPU predictor beside it), warmed up: both timed."""
    gpu = Predictor.load(ARTIFACTS / "seed-demo.onnx", [CPU], threads=1)
    cpu = Predictor.load(ARTIFACTS / "seed-demo.onnx", [CPU], threads=1)
    gpu.session = Slowed(gpu.session, fixed=LAUNCH_S)  # type: ignore[assignment]
    cpu.session = Slowed(cpu.session, per_row_step=ROW_STEP_S)  # type: ignore[assignment]
    gpu.device, gpu.beside = "cuda", cpu
    gpu.warm_up()
    return gpu, cpu


def test_small_calls_go_to_the_cpu_and_large_ones_to_the_gpu(two_devices):
    gpu, cpu = two_devices
    assert gpu.device_for(1, 48) is cpu
    assert gpu.device_for(1024, 48) is gpu
    # the timings saw the slowdowns: a fixed cost a call (timed over 16 steps), a cost a row
    assert gpu.cost is not None and cpu.cost is not None
    assert gpu.cost.seconds_per_step >= 0.8 * LAUNCH_S / 16
    assert cpu.cost.seconds_per_row_step >= 0.8 * ROW_STEP_S
    # the crossover, where the two costs meet (searched in powers of two)
    meet = (gpu.cost.seconds_per_step - cpu.cost.seconds_per_step) / (
        cpu.cost.seconds_per_row_step - gpu.cost.seconds_per_row_step
    )
    crossover = gpu.crossover_rows()
    assert crossover is not None and crossover / 2 < meet <= crossover
    assert gpu.device_for(crossover, 48) is gpu and gpu.device_for(crossover // 2, 48) is cpu


def test_each_call_runs_where_it_was_sent_and_answers_the_same(two_devices):
    gpu, cpu = two_devices
    before = gpu.session.calls, cpu.session.calls  # type: ignore[attr-defined]
    small = np.random.default_rng(0).normal(size=(2, 5, 3)).astype(np.float32)
    large = np.random.default_rng(1).normal(size=(512, 5, 3)).astype(np.float32)
    for inputs in (small, large):
        outputs, state = gpu.run(inputs)
        expected = direct_run("seed-demo")(inputs)
        np.testing.assert_allclose(outputs, expected[0], atol=1e-5)
        np.testing.assert_allclose(state, expected[1], atol=1e-5)
    assert gpu.session.calls - before[0] == 1 and cpu.session.calls - before[1] == 1  # type: ignore[attr-defined]


def test_the_runner_counts_calls_per_device_and_expects_the_faster_one(two_devices):
    gpu, cpu = two_devices
    model = ServedModel("seed-demo", "1", "", gpu)
    counted: list[str] = []
    runner = ModelRunner(model, Threads(1), 0.0, lambda seconds: None, counted.append)
    try:
        runner.run_blocking(np.zeros((1, 4, 3), np.float32), None)
        runner.run_blocking(np.zeros((1024, 4, 3), np.float32), None)
    finally:
        runner.threads.shutdown()
    assert counted == ["cpu", "cuda"]
    expected = gpu.expected_s(1, 48)
    assert expected is not None and cpu.cost is not None
    assert expected == cpu.cost.seconds(1, 48)


def test_the_metadata_shows_both_devices_and_the_crossover(two_devices):
    gpu, _ = two_devices
    devices = gpu.devices()
    assert [d["device"] for d in devices] == ["cuda", "cpu"]
    assert all(d["us_per_step"] is not None for d in devices)
    assert devices[0]["us_per_step"] > devices[1]["us_per_step"]  # the launch cost


def test_a_cpu_session_goes_beside_a_gpu_only_with_auto():
    cuda = [(CUDA, {"use_tf32": "0"}), CPU]
    assert cpu_beside("auto", cuda) == [CPU]
    assert cpu_beside("cuda", cuda) is None
    assert cpu_beside("auto", [CPU]) is None
    assert name_of(cuda[0]) == CUDA and device_of(CUDA) == "cuda" and device_of(CPU) == "cpu"


def test_on_one_device_a_cpu_session_beside_is_dropped():
    """ONNX Runtime falls back to the CPU silently: a CPU session beside a CPU one is no use."""
    predictor = Predictor.load(ARTIFACTS / "seed-demo.onnx", [CPU], threads=1, beside=[CPU])
    assert predictor.beside is None and predictor.crossover_rows() is None


def test_cuda_sessions_run_without_tf32_unless_asked(monkeypatch):
    from rnn_serve.service.runtime import providers

    monkeypatch.setattr(providers.ort, "get_available_providers", lambda: [CUDA, CPU])
    monkeypatch.setattr(providers, "_preload_cuda_libraries", lambda: None)
    assert providers.providers_for("auto") == [(CUDA, {"use_tf32": "0"}), CPU]
    assert providers.providers_for("cuda", tf32=True) == [(CUDA, {"use_tf32": "1"}), CPU]
    assert providers.providers_for("cpu") == [CPU]
