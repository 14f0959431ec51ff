"""Forecasts scored against what happened, on a real server: co2's held-out weeks streamed a
week at a time agree with the same scores computed here from the answers, and raise no alarm;
a series that starts jumping raises the drift alarm within ten steps."""

from __future__ import annotations

import os

import httpx
import numpy as np
import pytest

from tests.support.servers import Server

HORIZON, LEVELS, WINDOW = 4, [50, 80, 90, 95, 99], 105
HELD_OUT = 229  # co2's test weeks (its manifest's metrics)


@pytest.fixture(scope="module")
def co2() -> np.ndarray:
    from rnn_serve.model.series.datasets import co2 as load

    return load()["co2"].interpolate().to_numpy(np.float64)


def stream(server: Server, sequence: str, values: np.ndarray) -> list[dict]:
    """``values``: the first WINDOW start the sequence, then one a step; every answer."""
    url = f"{server.url}/v1/models/co2/forecast"
    body = {"horizon": HORIZON, "levels": LEVELS}
    answers = []
    with httpx.Client() as client:
        first = {"series": values[:WINDOW].tolist(), "sequence": {"id": sequence, "start": True}}
        for index in range(WINDOW - 1, len(values)):
            step = (
                first
                if index == WINDOW - 1
                else {"series": [float(values[index])], "sequence": {"id": sequence}}
            )
            answer = client.post(url, json=body | step)
            assert answer.status_code == 200, answer.text
            answers.append(answer.json())
    return answers


def offline(answers: list[dict], actuals: np.ndarray) -> tuple[dict, dict]:
    """MAE by horizon step and coverage by level and step, from the answers: the answer at
    step t forecast actuals[t + 1 ... t + HORIZON]."""
    errors: dict[int, list[float]] = {h: [] for h in range(1, HORIZON + 1)}
    hits: dict[tuple[int, int], list[bool]] = {}
    for t, answer in enumerate(answers):
        for h in range(1, HORIZON + 1):
            if t + h >= len(actuals):
                break
            actual = actuals[t + h]
            errors[h].append(abs(actual - answer["forecasts"][h - 1]))
            for level in LEVELS:
                band = answer["intervals"][str(level)]
                inside = band["lower"][h - 1] <= actual <= band["upper"][h - 1]
                hits.setdefault((level, h), []).append(inside)
    mae = {f"h{h}": float(np.mean(e)) for h, e in errors.items()}
    coverage = {
        str(lv): {f"h{h}": float(np.mean(hits[(lv, h)])) for h in range(1, HORIZON + 1)}
        for lv in LEVELS
    }
    return mae, coverage


def test_co2_held_out_weeks_score_as_computed_offline_and_raise_no_alarm(shared_server, co2):
    values = co2[-(HELD_OUT + WINDOW) :]
    answers = stream(shared_server, "held-out", values)
    mae, coverage = offline(answers, values[WINDOW - 1 :])
    live = httpx.get(f"{shared_server.url}/v1/models/co2").json()["live"]
    assert live["scored"] == {f"h{h}": HELD_OUT - h + 1 for h in range(1, HORIZON + 1)}
    for h, value in mae.items():
        assert live["mae"][h] == pytest.approx(value, rel=1e-4)
    manifest_scale = 0.2978 / 0.2355  # co2's test MAE over its test MASE at h1
    assert live["mase"]["h1"] == pytest.approx(mae["h1"] / manifest_scale, rel=1e-3)
    for level, by_step in coverage.items():
        for h, value in by_step.items():
            assert live["coverage"][level][h] == pytest.approx(value, abs=1e-3), (level, h)
    assert not any(level["drifting"] for level in live["drift"].values()), live["drift"]
    metrics = httpx.get(f"{shared_server.url}/metrics").text
    assert 'rnn_serve_live_mae{horizon_step="1",model="co2",version="1"}' in metrics
    assert 'rnn_serve_drift{level="80",model="co2",version="1"} 0.0' in metrics


def test_a_series_that_starts_jumping_raises_the_drift_alarm_within_ten_steps(co2):
    calm = co2[-(WINDOW + 80) :]
    jumps = np.random.default_rng(3).normal(0, 4, 40)  # several ppm a week, up and down
    values = np.concatenate([calm, calm[-1] + np.cumsum(jumps)])
    env = os.environ | {"RNN_SERVE_LOG_LEVEL": "warning"}
    with Server(env) as server:
        answers = stream(server, "jumping", values[: len(calm)])
        live = httpx.get(f"{server.url}/v1/models/co2").json()["live"]
        assert not live["drift"]["80"]["drifting"]
        url = f"{server.url}/v1/models/co2/forecast"
        fired_after = None
        for step, value in enumerate(values[len(calm) :], start=1):
            body = {"series": [float(value)], "horizon": HORIZON, "sequence": {"id": "jumping"}}
            assert httpx.post(url, json=body).status_code == 200
            drift = httpx.get(f"{server.url}/v1/models/co2").json()["live"]["drift"]["80"]
            if drift["drifting"]:
                fired_after = step
                break
        metrics = httpx.get(f"{server.url}/metrics").text
        log = server.output()
    assert answers and fired_after is not None and fired_after <= 10, fired_after
    assert 'rnn_serve_drift{level="80",model="co2",version="1"} 1.0' in metrics
    assert "drifts: its 80% intervals covered" in log
