"""Where an inference runs: small ones on the event loop, heavy ones on the inference threads."""

from __future__ import annotations

import asyncio
import os
import threading

import numpy as np
import pytest

from rnn_serve.service.engine.dataplane import DataPlane
from rnn_serve.service.engine.threads import Threads
from rnn_serve.service.metrics import Metrics
from rnn_serve.service.runtime.loader import load_models
from rnn_serve.service.settings import Settings
from tests.support.models import ARTIFACTS, direct_run, write_random_model
from tests.support.servers import make_client, wait_for


@pytest.fixture(scope="module")
def models():
    loaded = load_models(ARTIFACTS, ["CPUExecutionProvider"], threads=1)
    for model in loaded.values():
        model.predictor.warm_up()
    return loaded


def threads_used(models, inline_us: int | None, shape: tuple[int, int, int]) -> set[str]:
    settings = Settings(inline_inference_us=inline_us, batching=False)
    dataplane = DataPlane(settings, Metrics(), Threads(settings.inference_threads))
    model = models["co2"]
    deployment = dataplane.deploy(model)
    seen: set[str] = set()
    real = model.predictor.run_here

    def spy(inputs, state=None):
        seen.add(threading.current_thread().name)
        return real(inputs, state)

    model.predictor.run_here = spy  # type: ignore[method-assign]
    try:
        inputs = np.ones(shape, np.float32)
        outputs, state = asyncio.run(dataplane.predict(deployment, inputs, None))
    finally:
        del model.predictor.run_here
        dataplane.threads.shutdown()
    expected = direct_run("co2")(inputs)
    np.testing.assert_allclose(outputs, expected[0], atol=1e-5)
    np.testing.assert_allclose(state, expected[1], atol=1e-5)
    return seen


def expected_us(models, shape: tuple[int, int, int]) -> float:
    """What the cost model timed at warm-up predicts: thresholds follow this machine's speed."""
    return models["co2"].predictor.expected_s(*shape[:2]) * 1e6


def test_an_inference_expected_under_the_threshold_runs_on_the_event_loop(models):
    shape = (1, 48, 1)
    threshold = int(expected_us(models, shape) * 2) + 1
    assert threads_used(models, threshold, shape) == {threading.main_thread().name}


def test_an_inference_expected_over_the_threshold_runs_on_an_inference_thread(models):
    shape = (256, 480, 1)
    (name,) = threads_used(models, int(expected_us(models, shape) / 2), shape)
    assert name.startswith("inference")


def test_zero_sends_every_inference_to_the_threads(models):
    (name,) = threads_used(models, 0, (1, 2, 1))
    assert name.startswith("inference")


@pytest.mark.parametrize(("cores", "bound_us"), [({0}, 2000), ({0, 1}, 200), ({3, 5, 7}, 200)])
def test_the_default_bound_follows_the_cores_the_process_may_use(monkeypatch, cores, bound_us):
    """On one core a thread cannot run beside the event loop: only heavier inferences hop."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: cores, raising=False)
    assert Settings().inline_inference_s() == pytest.approx(bound_us / 1e6)
    assert Settings(inline_inference_us=50).inline_inference_s() == pytest.approx(50e-6)


def test_one_core_runs_a_small_batch_on_the_event_loop(models, monkeypatch):
    """What the bound changes: a batch expected to take a millisecond runs on the event loop
    on one core, and hops to an inference thread on two."""
    shape = (8, 48, 1)
    monkeypatch.setattr(models["co2"].predictor, "expected_s", lambda rows, steps: 1e-3)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert threads_used(models, None, shape) == {threading.main_thread().name}
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    (name,) = threads_used(models, None, shape)
    assert name.startswith("inference")


def test_an_inference_past_its_deadline_gets_504(tmp_path):
    write_random_model(tmp_path / "heavy.onnx", 1, [("rnn", 768)], [1])  # about 40 ms a call
    with make_client(model_dir=tmp_path, inference_timeout_s=0.001) as client:
        response = client.post("/v1/models/heavy/predict", json={"inputs": [[[0.1]] * 200] * 4})
        assert response.status_code == 504
        assert response.json()["error"] == "inference took longer than 0.001 s"
        # what the timed-out request held is given back: nothing admitted, nothing queued
        admission = client.app.state.engine.dataplane.admission
        wait_for(lambda: admission.pending == 0, "the timed-out request to leave")
        assert admission.backlog_s == pytest.approx(0, abs=1e-9)
