"""WebSocket streams of one sequence, with the `websockets` client against a real server: the
steps' outputs equal one request over all of them, in JSON and binary frames; the rules of the
stream close it with codes that name them; a client that reconnects loses nothing and applies
nothing twice, also across a restart of the server on Redis."""

from __future__ import annotations

import asyncio
import base64
import json
import os

import httpx
import numpy as np
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.support.servers import Server

STEPS = 40
MODEL = "seed-demo"


def stream_url(server: Server, sequence: str, **query: str) -> str:
    url = f"{server.url.replace('http', 'ws', 1)}/v1/models/{MODEL}/sequences/{sequence}/stream"
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def whole(server: Server, inputs: np.ndarray) -> np.ndarray:
    """The outputs of one stateless request over every step."""
    answer = httpx.post(f"{server.url}/v1/models/{MODEL}/predict", json={"inputs": inputs.tolist()})
    assert answer.status_code == 200, answer.text
    return np.asarray(answer.json()["outputs"], np.float32)


async def ready(ws: ClientConnection) -> dict:
    message = json.loads(await ws.recv())
    assert message["type"] == "ready", message
    return message


async def closed(ws: ClientConnection) -> tuple[int, str]:
    with pytest.raises(ConnectionClosed):
        while True:
            await ws.recv()
    assert ws.close_code is not None
    return ws.close_code, ws.close_reason or ""


async def within_credits(ws: ClientConnection, frames: list, credits: int) -> list:
    """Every frame sent, never more than ``credits`` ahead of the answers; the answers."""
    answers: list = []
    for sent, frame in enumerate(frames):
        if sent - len(answers) == credits:
            answers.append(await ws.recv())
        await ws.send(frame)
    while len(answers) < len(frames):
        answers.append(await ws.recv())
    return answers


@pytest.fixture(scope="module")
def inputs() -> np.ndarray:
    return np.random.default_rng(7).normal(size=(1, STEPS, 3)).astype(np.float32)


def test_steps_streamed_ahead_of_their_answers_equal_one_request(shared_server, inputs):
    async def run() -> tuple[list[np.ndarray], list[int]]:
        async with connect(stream_url(shared_server, "ahead", start="true")) as ws:
            hello = await ready(ws)
            assert hello["steps"] == 0 and hello["credits"] == 32
            for t in range(0, STEPS, 2):  # every frame sent before any answer is read
                await ws.send(json.dumps({"inputs": inputs[:, t : t + 2].tolist()}))
            answers = [json.loads(await ws.recv()) for _ in range(0, STEPS, 2)]
        outputs = [np.asarray(a["outputs"], np.float32) for a in answers]
        return outputs, [a["steps"] for a in answers]

    outputs, steps = asyncio.run(run())
    assert steps == list(range(2, STEPS + 1, 2))
    np.testing.assert_allclose(
        np.concatenate(outputs, axis=1), whole(shared_server, inputs), atol=1e-5
    )


def test_binary_frames_of_float32_answer_in_binary(shared_server, inputs):
    async def run() -> list[bytes]:
        async with connect(stream_url(shared_server, "binary", start="true")) as ws:
            credits = (await ready(ws))["credits"]
            frames = [inputs[0, t].tobytes() for t in range(STEPS)]
            return await within_credits(ws, frames, credits)

    answers = asyncio.run(run())
    assert all(isinstance(a, bytes) for a in answers)
    streamed = np.concatenate([np.frombuffer(a, "<f4") for a in answers])
    np.testing.assert_allclose(streamed, whole(shared_server, inputs).ravel(), atol=1e-5)


def test_a_bad_frame_gets_its_error_and_the_stream_goes_on(shared_server, inputs):
    async def run() -> list[dict]:
        async with connect(stream_url(shared_server, "bad", start="true")) as ws:
            await ready(ws)
            await ws.send(json.dumps({"inputs": inputs[:, :3].tolist()}))
            await ws.send(json.dumps({"inputs": [[[1.0, 2.0]]]}))  # two features, not three
            await ws.send("not json")
            await ws.send(b"\x00\x00\x80")  # not whole float32 steps
            await ws.send(json.dumps({"inputs": inputs[:, 3:5].tolist()}))
            return [json.loads(await ws.recv()) for _ in range(5)]

    first, features, garbage, ragged, last = asyncio.run(run())
    assert first["steps"] == 3
    assert features["status"] == 422 and "expects 3" in features["error"]
    assert garbage["status"] == 400 and "not valid JSON" in garbage["error"]
    assert ragged["status"] == 422 and "12 bytes a step" in ragged["error"]
    assert last["steps"] == 5  # nothing of the bad ones was applied
    np.testing.assert_allclose(
        np.asarray(last["outputs"], np.float32),
        whole(shared_server, inputs[:, :5])[:, 3:5],
        atol=1e-5,
    )


def test_a_step_sent_again_is_not_applied_twice_and_a_gap_is_refused(shared_server, inputs):
    async def run() -> tuple[dict, dict, dict, dict]:
        async with connect(stream_url(shared_server, "again", start="true")) as ws:
            await ready(ws)
            await ws.send(json.dumps({"inputs": inputs[:, :4].tolist()}))
            applied = json.loads(await ws.recv())
        async with connect(stream_url(shared_server, "again")) as ws:  # reconnected
            hello = await ready(ws)
            await ws.send(json.dumps({"inputs": inputs[:, :4].tolist(), "after": 0}))
            again = json.loads(await ws.recv())
            await ws.send(json.dumps({"inputs": inputs[:, 5:6].tolist(), "after": 5}))
            gap = json.loads(await ws.recv())
            return applied, hello, again, gap

    applied, hello, again, gap = asyncio.run(run())
    assert applied["steps"] == 4 and hello["steps"] == 4
    assert again["status"] == 409 and "applied already" in again["error"]
    assert gap["status"] == 422 and "never arrived" in gap["error"]


def test_the_end_closes_the_stream_and_forgets_the_sequence(shared_server, inputs):
    async def run() -> tuple[int, str]:
        async with connect(stream_url(shared_server, "ending", start="true")) as ws:
            await ready(ws)
            await ws.send(json.dumps({"inputs": inputs[:, :2].tolist(), "end": True}))
            assert json.loads(await ws.recv())["steps"] == 2
            return await closed(ws)

    assert asyncio.run(run()) == (1000, "sequence 'ending' ended")
    with pytest.raises(InvalidStatus) as refused:
        asyncio.run(connect(stream_url(shared_server, "ending")).__aenter__())
    assert refused.value.response.status_code == 404


def test_an_unknown_model_or_sequence_is_refused_before_the_upgrade(shared_server):
    for url in (
        stream_url(shared_server, "never-started"),
        stream_url(shared_server, "x", start="true").replace(MODEL, "no-such-model"),
    ):
        with pytest.raises(InvalidStatus) as refused:
            asyncio.run(connect(url).__aenter__())
        assert refused.value.response.status_code == 404
        assert b"error" in refused.value.response.body


def test_the_rules_of_a_stream_close_it_naming_them(inputs):
    env = os.environ | {
        "RNN_SERVE_STREAM_CREDITS": "2",
        "RNN_SERVE_STREAM_MAX_FRAME_BYTES": "4096",
        "RNN_SERVE_STREAM_IDLE_TIMEOUT_S": "0.5",
    }

    async def overrun(server: Server) -> tuple[int, str]:
        async with connect(stream_url(server, "greedy", start="true")) as ws:
            assert (await ready(ws))["credits"] == 2
            for t in range(STEPS):  # far past two
                await ws.send(inputs[0, t].tobytes())
            return await closed(ws)

    async def too_big(server: Server) -> tuple[int, str]:
        async with connect(stream_url(server, "big", start="true")) as ws:
            await ready(ws)
            await ws.send(np.zeros((400, 3), np.float32).tobytes())  # 4,800 bytes
            return await closed(ws)

    async def idle(server: Server) -> tuple[int, str]:
        async with connect(stream_url(server, "idle", start="true")) as ws:
            await ready(ws)
            return await closed(ws)

    with Server(env) as server:
        code, reason = asyncio.run(overrun(server))
        assert code == 1008 and "more than 2 steps sent ahead" in reason
        code, reason = asyncio.run(too_big(server))
        assert code == 1009 and "4800 bytes is past the limit of 4096" in reason
        code, reason = asyncio.run(idle(server))
        assert code == 4408 and "nothing for 0.5 s" in reason


def _base64url(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def test_a_stream_needs_a_key_and_belongs_to_it(inputs):
    env = os.environ | {"RNN_SERVE_API_KEYS": "k1,k2"}

    def open_with(server: Server, key: str | None, **query: str):
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return connect(stream_url(server, "mine", **query), additional_headers=headers)

    async def run(server: Server) -> None:
        async with open_with(server, "k1", start="true") as ws:
            await ready(ws)
            await ws.send(json.dumps({"inputs": inputs[:, :2].tolist()}))
            assert json.loads(await ws.recv())["steps"] == 2
        for key, status in ((None, 401), ("wrong", 401), ("k2", 404)):
            with pytest.raises(InvalidStatus) as refused:
                await open_with(server, key).__aenter__()
            assert refused.value.response.status_code == status, key
        async with open_with(server, "k1") as ws:
            assert (await ready(ws))["steps"] == 2
        # a browser cannot send the header: it offers the key as a subprotocol
        for key, status in (("k1", None), ("k2", 404), ("wrong", 401)):
            offered = ["rnn-serve", "rnn-serve.bearer." + _base64url(key)]
            opening = connect(stream_url(server, "mine"), subprotocols=offered)
            if status is None:
                async with opening as ws:
                    assert ws.subprotocol == "rnn-serve"  # never the one with the key
                    assert (await ready(ws))["steps"] == 2
                continue
            with pytest.raises(InvalidStatus) as refused:
                await opening.__aenter__()
            assert refused.value.response.status_code == status, key

    with Server(env) as server:
        asyncio.run(run(server))


def test_a_stream_resumes_across_a_restart_on_redis(redis_url, inputs):
    """The client keeps the frames it has no answer for; after the server is gone and another
    has started on the same store, "ready" says how far the sequence got, and the client sends
    the rest: the outputs equal one request over every step."""
    env = os.environ | {"RNN_SERVE_STATE_URL": redis_url}
    half = STEPS // 2

    async def first_half(server: Server) -> list[np.ndarray]:
        async with connect(stream_url(server, "restarted", start="true")) as ws:
            await ready(ws)
            for t in range(half):
                await ws.send(json.dumps({"inputs": inputs[:, t : t + 1].tolist()}))
            answers = [json.loads(await ws.recv()) for _ in range(half)]
        return [np.asarray(a["outputs"], np.float32) for a in answers]

    async def the_rest(server: Server, unanswered: int) -> tuple[int, list[np.ndarray]]:
        async with connect(stream_url(server, "restarted")) as ws:
            steps = (await ready(ws))["steps"]
            for t in range(steps, STEPS):
                frame = {"inputs": inputs[:, t : t + 1].tolist(), "after": t}
                await ws.send(json.dumps(frame))
            answers = [json.loads(await ws.recv()) for _ in range(steps, STEPS)]
        return steps, [np.asarray(a["outputs"], np.float32) for a in answers]

    with Server(env) as server:
        before = asyncio.run(first_half(server))
    with Server(env) as server:
        steps, after = asyncio.run(the_rest(server, STEPS - half))
        expected = whole(server, inputs)
    assert steps == half
    np.testing.assert_allclose(np.concatenate(before + after, axis=1), expected, atol=1e-5)


def test_a_forecasting_model_streams_forecasts_as_its_http_sequence_does(shared_server):
    values = 315 + 0.03 * np.arange(120) + np.sin(np.arange(120) / 8.3)
    window = 105

    async def streamed() -> tuple[list[dict], bytes]:
        url = stream_url(shared_server, "mlo", start="true", horizon="4").replace(MODEL, "co2")
        async with connect(url) as ws:
            await ready(ws)
            await ws.send(json.dumps({"series": values[:window].tolist()}))
            answers = [json.loads(await ws.recv())]
            for value in values[window:-1]:
                await ws.send(json.dumps({"series": [value]}))
                answers.append(json.loads(await ws.recv()))
            await ws.send(np.float32([values[-1]]).tobytes())
            return answers, await ws.recv()

    answers, last = asyncio.run(streamed())
    url = f"{shared_server.url}/v1/models/co2/forecast"
    steps = [values[:window].tolist()] + [[value] for value in values[window:]]
    expected = []
    for index, series in enumerate(steps):
        body = {"series": series, "horizon": 4, "sequence": {"id": "mlo-http", "start": index == 0}}
        expected.append(httpx.post(url, json=body).json()["forecasts"])
    assert [a["type"] for a in answers] == ["forecasts"] * len(answers)
    np.testing.assert_allclose([a["forecasts"] for a in answers], expected[:-1], rtol=1e-6)
    np.testing.assert_allclose(np.frombuffer(last, "<f4"), expected[-1], rtol=1e-5)
    with pytest.raises(InvalidStatus) as refused:  # per-step predictions do not forecast
        asyncio.run(connect(stream_url(shared_server, "x", start="true", horizon="4")).__aenter__())
    assert refused.value.response.status_code == 422
