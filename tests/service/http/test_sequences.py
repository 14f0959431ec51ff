"""Stateful sequences: the server carries the hidden state, in memory or in Redis."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import time
import uuid
from types import SimpleNamespace

import httpx
import numpy as np
import pytest
import redis

from rnn_serve.contract.forecast import observe_and_forecast
from rnn_serve.contract.manifest import Manifest
from rnn_serve.contract.preprocessing import SeriesTransform
from rnn_serve.service.app import create_app
from rnn_serve.service.engine.state import memory
from rnn_serve.service.engine.state.redis import RedisStore
from rnn_serve.service.settings import Settings
from tests.support.models import ARTIFACTS, co2_values, direct_run
from tests.support.servers import assert_streamed_as_whole, make_client

PREDICT = "/v1/models/seed-demo/predict"


@pytest.fixture(params=["memory", "redis"])
def store_client(request):
    overrides = {}
    if request.param == "redis":
        overrides["state_url"] = request.getfixturevalue("redis_url")
    with make_client(**overrides) as client:
        yield client


def new_id() -> str:
    return uuid.uuid4().hex


def stream(client, inputs: np.ndarray, cuts: list[int], path: str = PREDICT) -> list[dict]:
    """Sends inputs[:, a:b] for each chunk, as one sequence; the last chunk ends it."""
    sequence, answers = new_id(), []
    bounds = [0, *cuts, inputs.shape[1]]
    for index, (a, b) in enumerate(itertools.pairwise(bounds)):
        spec = {"id": sequence, "start": index == 0, "end": b == inputs.shape[1]}
        response = client.post(path, json={"inputs": inputs[:, a:b].tolist(), "sequence": spec})
        assert response.status_code == 200, response.text
        answers.append(response.json())
    return answers


@pytest.mark.parametrize("cuts", [list(range(1, 12)), [3, 4, 9]], ids=["one step", "uneven"])
def test_streaming_equals_one_request(store_client, rng, cuts):
    inputs = rng.normal(size=(2, 12, 3)).astype(np.float32)
    whole = store_client.post(PREDICT, json={"inputs": inputs.tolist()}).json()
    answers = stream(store_client, inputs, cuts)
    assert_streamed_as_whole(answers, whole, 12)
    assert answers[-1]["sequence"]["ended"]


def test_end_forgets_and_unknown_sequences_get_a_clear_404(store_client):
    step = {"inputs": [[[1.0, 2.0, 3.0]]]}
    sequence = new_id()
    begin = {"id": sequence, "start": True}
    assert store_client.post(PREDICT, json=step | {"sequence": begin}).status_code == 200
    end = {"id": sequence, "end": True}
    assert store_client.post(PREDICT, json=step | {"sequence": end}).status_code == 200
    response = store_client.post(PREDICT, json=step | {"sequence": {"id": sequence}})
    assert response.status_code == 404
    assert response.json()["error"] == (
        f"sequence '{sequence}' of model 'seed-demo' is unknown or has expired; "
        "begin it with sequence.start: true"
    )


def test_start_takes_an_initial_state_and_later_requests_refuse_one(store_client, rng):
    state = rng.uniform(-1, 1, size=(1, 7)).astype(np.float32)
    inputs = rng.normal(size=(1, 4, 3)).astype(np.float32)
    sequence = new_id()
    first = store_client.post(
        PREDICT,
        json={
            "inputs": inputs.tolist(),
            "initial_state": state.tolist(),
            "sequence": {"id": sequence, "start": True},
        },
    ).json()
    np.testing.assert_allclose(first["state"], direct_run("seed-demo")(inputs, state)[1], atol=1e-6)
    refused = store_client.post(
        PREDICT,
        json={
            "inputs": inputs.tolist(),
            "initial_state": state.tolist(),
            "sequence": {"id": sequence},
        },
    )
    assert refused.status_code == 422
    assert refused.json()["error"].startswith("initial_state goes only with sequence.start")
    other_rows = store_client.post(
        PREDICT, json={"inputs": [[[1, 2, 3]]] * 2, "sequence": {"id": sequence}}
    )
    assert other_rows.json()["error"] == f"sequence '{sequence}' has 1 rows, this request has 2"


def test_concurrent_requests_on_one_sequence_apply_one_at_a_time(rng):
    """20 one-step requests at once: without the lock, reads would race and lose steps."""
    app = create_app(Settings(model_dir=ARTIFACTS))
    step = rng.normal(size=(1, 1, 3)).round(3).tolist()
    sequence = new_id()

    async def run() -> dict:
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://test") as client,
        ):
            begin = {"inputs": step, "sequence": {"id": sequence, "start": True}}
            await client.post(PREDICT, json=begin)
            more = {"inputs": step, "sequence": {"id": sequence}}
            await asyncio.gather(*(client.post(PREDICT, json=more) for _ in range(20)))
            last = await client.post(PREDICT, json=more)
            return last.json()

    answer = asyncio.run(run())
    assert answer["sequence"]["steps"] == 22
    expected = direct_run("seed-demo")(np.repeat(np.float32(step), 22, axis=1))[1]
    np.testing.assert_allclose(answer["state"], expected, atol=1e-5)


def test_memory_store_evicts_the_least_recent_and_the_idle(monkeypatch):
    clock = SimpleNamespace(now=1000.0)
    monkeypatch.setattr(memory, "time", SimpleNamespace(monotonic=lambda: clock.now))
    step = {"inputs": [[[1.0, 2.0, 3.0]]]}
    with make_client(max_sequences=2, sequence_idle_timeout_s=0.3) as client:
        ids = [new_id() for _ in range(3)]
        for sequence in ids:
            client.post(PREDICT, json=step | {"sequence": {"id": sequence, "start": True}})
        assert client.get("/v1/models").json()["sequences"] == {
            "store": "memory",
            "available": True,
            "live": 2,
        }
        oldest = client.post(PREDICT, json=step | {"sequence": {"id": ids[0]}})
        assert oldest.status_code == 404
        assert client.post(PREDICT, json=step | {"sequence": {"id": ids[2]}}).status_code == 200
        clock.now += 0.31  # past the idle timeout, by the store's clock
        idle = client.post(PREDICT, json=step | {"sequence": {"id": ids[2]}})
        assert idle.status_code == 404
        limits = client.get("/v1/models/seed-demo").json()["limits"]
        assert (limits["max_sequences"], limits["sequence_idle_timeout_s"]) == (2, 0.3)


def test_streaming_forecasts_continue_from_the_stored_state(store_client):
    manifest = Manifest.read(ARTIFACTS / "co2.json")
    values = co2_values()[: manifest.window + 6]
    first, new = values[: manifest.window], values[manifest.window :]
    sequence = new_id()
    path = "/v1/models/co2/forecast"
    answer = store_client.post(
        path,
        json={"series": first.tolist(), "horizon": 4, "sequence": {"id": sequence, "start": True}},
    ).json()
    for value in new:
        answer = store_client.post(
            path, json={"series": [value], "horizon": 4, "sequence": {"id": sequence}}
        ).json()
    expected, _ = observe_and_forecast(
        direct_run("co2"), SeriesTransform(manifest.preprocessing), values[np.newaxis], None, 4
    )
    np.testing.assert_allclose(answer["forecasts"], expected[0], atol=1e-4)
    assert answer["sequence"]["steps"] == len(values) - 1


def test_starting_a_forecast_sequence_needs_a_window(client):
    response = client.post(
        "/v1/models/co2/forecast",
        json={"series": [300.0] * 10, "horizon": 1, "sequence": {"id": "x", "start": True}},
    )
    assert response.status_code == 422
    assert response.json()["error"] == (
        "series has 10 values; starting a sequence of model 'co2' needs at least 105"
    )


def test_redis_outage_gets_503_and_leaves_the_state_intact(redis_url, rng):
    pid = int(redis.Redis.from_url(redis_url).info()["process_id"])
    inputs = rng.normal(size=(1, 3, 3)).astype(np.float32)
    with make_client(state_url=redis_url) as client:
        sequence = new_id()
        first = {"inputs": inputs[:, :1].tolist(), "sequence": {"id": sequence, "start": True}}
        assert client.post(PREDICT, json=first).status_code == 200
        os.kill(pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            second = {"inputs": inputs[:, 1:2].tolist(), "sequence": {"id": sequence}}
            response = client.post(PREDICT, json=second)
            assert response.status_code == 503
            assert response.json()["error"].startswith("the sequence state store is unavailable")
            assert time.monotonic() - started < 5
            stateless = client.post(PREDICT, json={"inputs": inputs.tolist()})
            assert stateless.status_code == 200
        finally:
            os.kill(pid, signal.SIGCONT)
        for index in (1, 2):  # the client retries the refused step, then goes on
            step = {"inputs": inputs[:, index : index + 1].tolist(), "sequence": {"id": sequence}}
            response = client.post(PREDICT, json=step)
            assert response.status_code == 200, response.text  # no stale lock left behind
        answer = response.json()
        np.testing.assert_allclose(answer["state"], direct_run("seed-demo")(inputs)[1], atol=1e-5)


def test_sequence_forecasts_keep_the_same_limits():
    start = {"id": "limited", "start": True}
    with make_client(max_horizon=5, max_batch=1) as client:
        path = "/v1/models/co2/forecast"
        too_far = client.post(path, json={"series": [300.0] * 105, "horizon": 6, "sequence": start})
        assert too_far.status_code == 422
        assert too_far.json()["error"] == "horizon 6 exceeds the limit of 5"
        too_many = client.post(
            path, json={"series": [[300.0] * 105] * 2, "horizon": 1, "sequence": start}
        )
        assert too_many.status_code == 413
        assert too_many.json()["error"] == "request has 2 sequences, the limit is 1"
        cannot = client.post(
            "/v1/models/seed-demo/forecast", json={"series": [1.0], "horizon": 1, "sequence": start}
        )
        assert cannot.json()["error"].startswith("model 'seed-demo' cannot forecast: forecasting")


def test_a_retried_request_with_its_idempotency_key_is_answered_again_not_applied(
    store_client, rng
):
    inputs = rng.normal(size=(1, 4, 3)).round(3).tolist()
    sequence = new_id()

    def send(key: str, start: bool = False, path: str = PREDICT):
        body = {"inputs": inputs, "sequence": {"id": sequence, "start": start}}
        return store_client.post(path, json=body, headers={"Idempotency-Key": key})

    send("first", start=True)
    applied = send("second")
    retried = send("second")
    assert retried.status_code == 200 and retried.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in applied.headers
    assert retried.json() == applied.json()  # steps 8: the retry applied nothing
    assert send("third").json()["sequence"]["steps"] == 12
    old = send("second")
    assert old.status_code == 409
    assert "key 'second' was applied to sequence" in old.json()["error"]
    bad = store_client.post(
        PREDICT,
        json={"inputs": inputs, "sequence": {"id": sequence}},
        headers={"Idempotency-Key": "x" * 257},
    )
    assert bad.status_code == 422 and "Idempotency-Key must be 1 to 256" in bad.json()["error"]
    # on /v2, a sequence request's id is its key
    infer = {
        "id": "v2-1",
        "inputs": [{"name": "inputs", "shape": [1, 1, 3], "datatype": "FP32", "data": [1, 2, 3]}],
        "parameters": {"sequence_id": sequence},
    }
    first, again = (store_client.post("/v2/models/seed-demo/infer", json=infer) for _ in "12")
    assert first.json() == again.json()
    follow = store_client.post(PREDICT, json={"inputs": inputs, "sequence": {"id": sequence}})
    assert follow.json()["sequence"]["steps"] == 17  # 12 + the one /v2 step + 4


def test_a_key_reused_for_another_request_is_refused_and_a_retried_end_answers_again(
    store_client, rng
):
    """As the IETF Idempotency-Key draft says: a key names one request; an end retried
    under its key gets the end's answer, though the sequence is gone."""
    inputs = rng.normal(size=(1, 3, 3)).round(3).tolist()
    sequence = new_id()

    def send(key: str, values=inputs, **flags: bool):  # type: ignore[no-untyped-def]
        body = {"inputs": values, "sequence": {"id": sequence, **flags}}
        return store_client.post(PREDICT, json=body, headers={"Idempotency-Key": key})

    send("first", start=True)
    applied = send("second")
    for other in (send("second", values=[[[9.0, 9.0, 9.0]]]), send("second", end=True)):
        assert other.status_code == 422
        assert other.json()["error"].startswith(
            "idempotency key 'second' was used for another request on sequence"
        )
        assert other.json()["details"][0]["loc"] == ["header", "Idempotency-Key"]
    assert send("second").json() == applied.json()  # the same request: its answer again
    ended = send("last", end=True)
    assert ended.json()["sequence"] == {"id": sequence, "steps": 9, "ended": True}
    again = send("last", end=True)
    assert again.status_code == 200 and again.json() == ended.json()
    assert again.headers["idempotent-replayed"] == "true"
    gone = store_client.post(PREDICT, json={"inputs": inputs, "sequence": {"id": sequence}})
    assert gone.status_code == 404  # ended: only the keyed end's answer is kept
    restarted = send("new", start=True)
    assert restarted.json()["sequence"]["steps"] == 3


def test_a_sequence_belongs_to_the_key_that_started_it(rng):
    inputs = rng.normal(size=(1, 2, 3)).round(3).tolist()
    first, second = ({"Authorization": f"Bearer {key}"} for key in ("k1", "k2"))
    with make_client(api_keys="k1,k2") as client:

        def send(headers: dict[str, str], **flags: bool):  # type: ignore[no-untyped-def]
            body = {"inputs": inputs, "sequence": {"id": "shared-name", **flags}}
            return client.post(PREDICT, json=body, headers=headers)

        assert send(first, start=True).status_code == 200
        for intruder in (send(second), send(second, end=True)):
            assert intruder.status_code == 404  # as if it did not exist
            assert "is unknown or has expired" in intruder.json()["error"]
        infer = {
            "inputs": [
                {"name": "inputs", "shape": [1, 1, 3], "datatype": "FP32", "data": [1, 2, 3]}
            ],
            "parameters": {"sequence_id": "shared-name"},
        }
        assert (
            client.post("/v2/models/seed-demo/infer", json=infer, headers=second).status_code == 400
        )
        assert send(first).json()["sequence"]["steps"] == 4  # untouched by the other key
        assert send(second, start=True).json()["sequence"]["steps"] == 2  # a sequence of its own
        assert send(first, end=True).json()["sequence"]["steps"] == 6


def test_a_retry_after_a_failed_redis_write_applies_once(redis_url, rng, monkeypatch):
    """Redis is paused (SIGSTOP) after the step's inference ran and before its state is
    written: the write times out, the client gets a 503, and its retry with the same
    Idempotency-Key is applied once. (The write the server gave up on was queued in Redis's
    socket and lands when Redis resumes: the retry then gets that answer, replayed. Either
    way the step is applied once.)"""
    pid = int(redis.Redis.from_url(redis_url).info()["process_id"])
    written = RedisStore.put
    pause = {"next": False}

    async def put_with_redis_paused(self, key, value):  # type: ignore[no-untyped-def]
        if not pause["next"]:
            return await written(self, key, value)
        pause["next"] = False
        os.kill(pid, signal.SIGSTOP)
        try:
            return await written(self, key, value)
        finally:
            os.kill(pid, signal.SIGCONT)

    monkeypatch.setattr(RedisStore, "put", put_with_redis_paused)
    inputs = rng.normal(size=(1, 3, 3)).astype(np.float32)
    sequence = new_id()
    with make_client(state_url=redis_url, sequence_lock_timeout_s=2) as client:

        def step(index: int):  # type: ignore[no-untyped-def]
            body = {
                "inputs": inputs[:, index : index + 1].tolist(),
                "sequence": {"id": sequence, "start": index == 0},
            }
            return client.post(PREDICT, json=body, headers={"Idempotency-Key": f"{index}"})

        assert step(0).status_code == 200
        pause["next"] = True
        failed = step(1)
        assert failed.status_code == 503, failed.text
        assert failed.json()["error"].startswith("the sequence state store is unavailable")
        retried = step(1)
        assert retried.status_code == 200
        last = step(2).json()
    outputs, state = direct_run("seed-demo")(inputs)
    np.testing.assert_allclose(retried.json()["outputs"], outputs[:, 1:2], atol=1e-5)
    assert last["sequence"]["steps"] == 3  # step 1 applied once, whichever write landed
    np.testing.assert_allclose(last["state"], state, atol=1e-5)
