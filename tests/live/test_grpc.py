"""The Open Inference Protocol over gRPC, on a real server, through the official Triton client
(tritonclient.grpc) and its own generated stubs: health, metadata, inference raw and typed, the
repository under model control, sequences across unary calls and over one stream, the health
service Kubernetes probes, API keys, and errors with their codes. Each answer is compared with
/v1's."""

from __future__ import annotations

import os
import queue
import signal
import time
import uuid

import grpc
import httpx
import numpy as np
import pytest
import tritonclient.grpc as triton
from tritonclient.grpc import service_pb2, service_pb2_grpc
from tritonclient.utils import InferenceServerException

from tests.support.models import write_random_model
from tests.support.servers import ON_THE_CPU, Server

PREDICT = "/v1/models/seed-demo/predict"


@pytest.fixture(scope="module")
def served():
    with Server(os.environ | {"RNN_SERVE_MODEL_CONTROL": "explicit"}) as server:
        yield server, triton.InferenceServerClient(server.grpc)


def tensor(name: str, array: np.ndarray) -> triton.InferInput:
    given = triton.InferInput(name, list(array.shape), "FP32")
    given.set_data_from_numpy(array)
    return given


def v1(server: Server, inputs: np.ndarray, **extra) -> dict:
    body = {"inputs": inputs.tolist(), **extra}
    answer = httpx.post(server.url + PREDICT, json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_health_metadata_and_config(served):
    server, client = served
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("seed-demo") and not client.is_model_ready("nope")
    assert "sequence" in client.get_server_metadata().extensions
    metadata = client.get_model_metadata("seed-demo", as_json=True)
    rest = httpx.get(server.url + "/v2/models/seed-demo").json()
    assert metadata["inputs"] == [
        {"name": t["name"], "datatype": t["datatype"], "shape": [str(d) for d in t["shape"]]}
        for t in rest["inputs"]
    ]
    config = client.get_model_config("seed-demo", as_json=True)["config"]
    assert [i["name"] for i in config["input"]] == ["inputs", "initial_state"]


def test_raw_inference_equals_v1(served, rng):
    server, client = served
    inputs = rng.normal(size=(4, 6, 3)).astype(np.float32)
    state = rng.uniform(-0.5, 0.5, (4, 7)).astype(np.float32)
    result = client.infer("seed-demo", [tensor("inputs", inputs), tensor("initial_state", state)])
    expected = v1(server, inputs, initial_state=state.tolist())
    np.testing.assert_allclose(result.as_numpy("outputs"), expected["outputs"], atol=1e-6)
    np.testing.assert_allclose(result.as_numpy("state"), expected["state"], atol=1e-6)
    assert result.get_response().model_version == "1"


def test_typed_contents_as_kserve_s_protocol_allows(served, rng):
    """Numbers in ``contents.fp32_contents`` rather than raw bytes, through the stub that
    tritonclient generates from Triton's own proto."""
    server, _ = served
    inputs = rng.normal(size=(2, 3, 3)).astype(np.float32)
    request = service_pb2.ModelInferRequest(model_name="seed-demo", id="typed-1")
    given = request.inputs.add(name="inputs", datatype="FP32", shape=list(inputs.shape))
    given.contents.fp32_contents.extend(inputs.ravel().tolist())
    with grpc.insecure_channel(server.grpc) as channel:
        answer = service_pb2_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request)
    assert answer.id == "typed-1"
    outputs = {o.name: i for i, o in enumerate(answer.outputs)}
    raw = answer.raw_output_contents[outputs["outputs"]]
    found = np.frombuffer(raw, "<f4").reshape(answer.outputs[outputs["outputs"]].shape)
    np.testing.assert_allclose(found, v1(server, inputs)["outputs"], atol=1e-6)


def test_a_sequence_across_unary_calls_equals_one_call(served, rng):
    server, client = served
    inputs = rng.normal(size=(1, 6, 3)).astype(np.float32)
    sequence = uuid.uuid4().int % (1 << 62)
    for start, stop in ((0, 2), (2, 5), (5, 6)):
        result = client.infer(
            "seed-demo",
            [tensor("inputs", inputs[:, start:stop])],
            sequence_id=sequence,
            sequence_start=start == 0,
            sequence_end=stop == 6,
        )
    np.testing.assert_allclose(result.as_numpy("state"), v1(server, inputs)["state"], atol=1e-5)


def test_forty_steps_over_one_stream_beside_another_sequence(served, rng):
    """Two sequences interleaved on one stream, a step at a time: each ends where one call
    over all its steps ends."""
    server, client = served
    steps = rng.normal(size=(2, 40, 3)).astype(np.float32)
    answers: queue.Queue = queue.Queue()
    client.start_stream(callback=lambda result, error: answers.put((result, error)))
    try:
        ids = ["stream-a-" + uuid.uuid4().hex, "stream-b-" + uuid.uuid4().hex]
        for step in range(40):
            for row, sequence in enumerate(ids):
                client.async_stream_infer(
                    "seed-demo",
                    [tensor("inputs", steps[row : row + 1, step : step + 1])],
                    request_id=f"{sequence}-{step}",
                    sequence_id=sequence,
                    sequence_start=step == 0,
                    sequence_end=step == 39,
                )
        results = [answers.get(timeout=30) for _ in range(80)]
    finally:
        client.stop_stream()
    assert all(error is None for _, error in results), [e for _, e in results if e]
    last = {
        r.get_response().id.rsplit("-", 1)[0]: r
        for r, _ in results
        if r.get_response().id.endswith("-39")
    }
    for row, sequence in enumerate(ids):
        expected = v1(server, steps[row : row + 1])["state"]
        np.testing.assert_allclose(last[sequence].as_numpy("state"), expected, atol=1e-5)


def test_a_bad_request_on_a_stream_gets_its_error_and_the_stream_goes_on(served):
    _, client = served
    answers: queue.Queue = queue.Queue()
    client.start_stream(callback=lambda result, error: answers.put((result, error)))
    try:
        client.async_stream_infer("seed-demo", [tensor("inputs", np.ones((1, 2, 5), np.float32))])
        client.async_stream_infer("seed-demo", [tensor("inputs", np.ones((1, 2, 3), np.float32))])
        (_, first), (second, error) = answers.get(timeout=30), answers.get(timeout=30)
    finally:
        client.stop_stream()
    assert "inputs has 5 features per step, model 'seed-demo' expects 3" in str(first)
    assert error is None and second.as_numpy("outputs").shape == (1, 2, 7)


@pytest.mark.parametrize(
    ("model", "array", "code", "message"),
    [
        ("nope", np.ones((1, 2, 3)), "StatusCode.NOT_FOUND", "unknown model 'nope'"),
        ("seed-demo", np.ones((1, 2, 4)), "StatusCode.INVALID_ARGUMENT", "has 4 features"),
        ("seed-demo", np.full((1, 2, 3), np.nan), "StatusCode.INVALID_ARGUMENT", "NaN"),
        ("seed-demo", np.ones((1, 0, 3)), "StatusCode.INVALID_ARGUMENT", "sizes must be >= 1"),
    ],
)
def test_errors_carry_their_code_and_name_what_is_wrong(served, model, array, code, message):
    _, client = served
    with pytest.raises(InferenceServerException) as raised:
        client.infer(model, [tensor("inputs", array.astype(np.float32))])
    assert raised.value.status() == code
    assert message in raised.value.message()


def test_the_repository_index_load_and_unload(served):
    _, client = served
    names = {m.name for m in client.get_model_repository_index().models}
    assert names == {"co2", "seed-demo"}
    client.unload_model("co2")
    assert not client.is_model_ready("co2")
    client.load_model("co2")
    assert client.is_model_ready("co2")


def test_the_repository_is_locked_by_default_and_keys_are_read_from_metadata(rng):
    env = os.environ | {"RNN_SERVE_API_KEYS": "reader", "RNN_SERVE_ADMIN_KEYS": "admin"}
    with Server(env) as server:
        client = triton.InferenceServerClient(server.grpc)
        inputs = [tensor("inputs", rng.normal(size=(1, 2, 3)).astype(np.float32))]
        with pytest.raises(InferenceServerException) as refused:
            client.infer("seed-demo", inputs)
        assert refused.value.status() == "StatusCode.UNAUTHENTICATED"
        assert client.infer("seed-demo", inputs, headers={"authorization": "Bearer reader"})
        with pytest.raises(InferenceServerException) as locked:
            client.unload_model("co2", headers={"authorization": "Bearer admin"})
        assert locked.value.status() == "StatusCode.PERMISSION_DENIED"
        assert "RNN_SERVE_MODEL_CONTROL" in locked.value.message()


def test_the_health_service_kubernetes_probes(served):
    from rnn_serve.service.grpc.proto import health_pb2, health_pb2_grpc

    server, _ = served
    with grpc.insecure_channel(server.grpc) as channel:
        answer = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
    assert answer.status == health_pb2.HealthCheckResponse.SERVING


@pytest.fixture(scope="module")
def heavy(tmp_path_factory):
    """A model slow enough that calls are still running when a test acts."""
    directory = tmp_path_factory.mktemp("heavy")
    write_random_model(directory / "heavy.onnx", 1, [("rnn", 768)], [1])
    return directory


def heavy_request(request_id: str = "", steps: int = 200) -> service_pb2.ModelInferRequest:
    """About 10 ms of inference at 200 steps."""
    request = service_pb2.ModelInferRequest(model_name="heavy", id=request_id)
    request.inputs.add(name="inputs", datatype="FP32", shape=[4, steps, 1])
    request.raw_input_contents.append(np.full((4, steps, 1), 0.1, "<f4").tobytes())
    return request


def test_overload_is_unavailable_with_the_retry_delay(heavy):
    env = (
        os.environ | ON_THE_CPU | {"RNN_SERVE_MODEL_DIR": str(heavy), "RNN_SERVE_MAX_PENDING": "2"}
    )
    env |= {"RNN_SERVE_BATCHING": "false"}
    with Server(env) as server, grpc.insecure_channel(server.grpc) as channel:
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        calls = [stub.ModelInfer.future(heavy_request()) for _ in range(24)]
        refused = [c for c in calls if c.exception() is not None]
        assert refused and len(refused) < len(calls)
        for call in refused:
            assert call.code() == grpc.StatusCode.UNAVAILABLE
            assert "requests are already waiting for inference" in call.details()
            assert dict(call.trailing_metadata())["retry-after"] == "1"


def test_the_client_s_deadline_is_honoured_and_the_server_goes_on(heavy):
    env = os.environ | ON_THE_CPU | {"RNN_SERVE_MODEL_DIR": str(heavy)}
    with Server(env) as server, grpc.insecure_channel(server.grpc) as channel:
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        with pytest.raises(grpc.RpcError) as late:
            stub.ModelInfer(heavy_request(steps=2000), timeout=0.02)
        assert late.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert stub.ModelInfer(heavy_request("after"), timeout=30).id == "after"


def test_sigterm_lets_the_calls_in_flight_finish(heavy):
    env = os.environ | ON_THE_CPU | {"RNN_SERVE_MODEL_DIR": str(heavy), "RNN_SERVE_DRAIN_S": "0"}
    env |= {"RNN_SERVE_BATCHING": "false", "RNN_SERVE_MAX_QUEUE_MS": "60000"}
    server = Server(env)
    try:
        server.wait_ready()
        with grpc.insecure_channel(server.grpc) as channel:
            stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
            calls = [stub.ModelInfer.future(heavy_request(f"r{i}", 2000)) for i in range(16)]
            time.sleep(0.2)  # in flight: about 1.6 s of work in all
            server.process.send_signal(signal.SIGTERM)
            assert [call.result(timeout=60).id for call in calls] == [f"r{i}" for i in range(16)]
        assert server.process.wait(timeout=60) == 0
    finally:
        if server.process.poll() is None:
            server.process.kill()


def test_grpc_calls_are_counted_in_the_request_metrics(served):
    server, client = served
    client.infer("seed-demo", [tensor("inputs", np.ones((1, 1, 3), np.float32))])
    metrics = httpx.get(server.url + "/metrics").text
    counted = (
        'rnn_serve_requests_total{model="seed-demo",protocol="grpc",'
        'route="/inference.GRPCInferenceService/ModelInfer",status="200"}'
    )
    assert counted in metrics
