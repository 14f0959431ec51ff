"""The Open Inference Protocol over gRPC, in the HTTP server's process and on its engine.

Triton's ``inference.GRPCInferenceService`` (a superset of KServe's ``grpc_predict_v2``, so
both projects' clients call it): health, metadata, ModelInfer, ModelStreamInfer (one
bidirectional stream, any number of sequences on it), the model repository and ModelConfig;
and ``grpc.health.v1.Health`` for Kubernetes' gRPC probes. Each call translates, calls the
engine once and renders, as the HTTP handlers do; the rules are REST's: the same limits,
admission, API keys (``authorization: Bearer`` metadata), metrics and access log.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc

from rnn_serve.service import __version__
from rnn_serve.service.engine import Engine, InOrder
from rnn_serve.service.engine.calls import PredictCall, SequenceStep
from rnn_serve.service.errors import (
    Forbidden,
    InternalError,
    MalformedRequest,
    NotReady,
    ServeError,
    Unauthorized,
)
from rnn_serve.service.grpc import tensors
from rnn_serve.service.grpc.proto import grpc_service_pb2 as pb
from rnn_serve.service.grpc.proto import grpc_service_pb2_grpc as pb_grpc
from rnn_serve.service.grpc.proto import health_pb2, health_pb2_grpc
from rnn_serve.service.grpc.proto import model_config_pb2 as config_pb
from rnn_serve.service.http.middleware import owner, request_id
from rnn_serve.service.http.oip import model_inputs
from rnn_serve.service.settings import Settings

log = logging.getLogger(__name__)
SERVICE = "/inference.GRPCInferenceService/"
EXTENSIONS = ["sequence", "model_repository", "grpc_stream"]
MAX_SEQUENCE_ID = 256
# gRPC's code for each HTTP status an error carries (service/errors.py)
CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    409: grpc.StatusCode.ALREADY_EXISTS,
    410: grpc.StatusCode.FAILED_PRECONDITION,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    422: grpc.StatusCode.INVALID_ARGUMENT,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}


class Inference(pb_grpc.GRPCInferenceServiceServicer):
    def __init__(self, state: Any) -> None:
        self.state = state  # the app's: engine, readiness, keys, metrics, access log

    @property
    def engine(self) -> Engine:
        engine: Engine | None = getattr(self.state, "engine", None)
        if engine is None:
            raise NotReady("the server is starting: no model is loaded yet")
        return engine

    async def ServerLive(self, request: Any, context: Any) -> pb.ServerLiveResponse:
        return pb.ServerLiveResponse(live=True)

    async def ServerReady(self, request: Any, context: Any) -> pb.ServerReadyResponse:
        return pb.ServerReadyResponse(ready=bool(getattr(self.state, "ready", False)))

    async def ModelReady(self, request: Any, context: Any) -> pb.ModelReadyResponse:
        async with self._call(context, "ModelReady", request.name):
            try:
                self.engine.model(request.name, request.version or None)
            except ServeError:
                return pb.ModelReadyResponse(ready=False)
            return pb.ModelReadyResponse(ready=True)

    async def ServerMetadata(self, request: Any, context: Any) -> pb.ServerMetadataResponse:
        async with self._call(context, "ServerMetadata"):
            return pb.ServerMetadataResponse(
                name="rnn-serve", version=__version__, extensions=EXTENSIONS
            )

    async def ModelMetadata(self, request: Any, context: Any) -> pb.ModelMetadataResponse:
        async with self._call(context, "ModelMetadata", request.name):
            described = self.engine.describe(request.name, request.version or None)
            return pb.ModelMetadataResponse(
                name=described["name"],
                versions=described["versions"],
                platform="onnxruntime_onnx",
                inputs=[_tensor_metadata(spec) for spec in described["inputs"]],
                outputs=[_tensor_metadata(spec) for spec in described["outputs"]],
            )

    async def ModelConfig(self, request: Any, context: Any) -> pb.ModelConfigResponse:
        """As far as clients need it: the tensors, and no batching dimension of Triton's own
        (the batch is the first of each tensor's dims, -1)."""
        async with self._call(context, "ModelConfig", request.name):
            described = self.engine.describe(request.name, request.version or None)
            fp32 = config_pb.DataType.TYPE_FP32
            config = config_pb.ModelConfig(
                name=described["name"],
                platform="onnxruntime_onnx",
                max_batch_size=0,
                input=[
                    config_pb.ModelInput(name=s["name"], data_type=fp32, dims=s["shape"])
                    for s in described["inputs"]
                ],
                output=[
                    config_pb.ModelOutput(name=s["name"], data_type=fp32, dims=s["shape"])
                    for s in described["outputs"]
                ],
            )
            return pb.ModelConfigResponse(config=config)

    async def ModelInfer(self, request: Any, context: Any) -> pb.ModelInferResponse:
        async with self._call(context, "ModelInfer", request.model_name):
            return await self._infer(request, context)

    async def ModelStreamInfer(
        self, requests: AsyncIterator[pb.ModelInferRequest], context: Any
    ) -> AsyncIterator[pb.ModelStreamInferResponse]:
        """Each request answered in order on the stream, as WebSocket streams are (the engine's
        InOrder), and read ahead of the answers up to RNN_SERVE_STREAM_CREDITS; a bad one gets
        its error there (``error_message``, as Triton sends it) and the stream goes on."""
        self._authorize(context)
        calls: InOrder[tuple[pb.ModelInferRequest, float], pb.ModelInferResponse] = InOrder(
            lambda call: self._infer(call[0], context), self.state.settings.stream_credits
        )
        reader = asyncio.get_running_loop().create_task(_read_all(requests, calls))
        try:
            async for (request, started), answer in calls.answers():
                if isinstance(answer, ServeError):
                    status = answer.status_code
                    yield pb.ModelStreamInferResponse(error_message=answer.message)
                else:
                    status = 200
                    yield pb.ModelStreamInferResponse(infer_response=answer)
                self._record(context, "ModelStreamInfer", request.model_name, status, started)
            await reader  # a stream the client broke ends with its error
        finally:
            reader.cancel()

    async def RepositoryIndex(self, request: Any, context: Any) -> pb.RepositoryIndexResponse:
        async with self._call(context, "RepositoryIndex"):
            found = self.engine.index()
            if request.ready:
                found = [entry for entry in found if entry["state"] == "READY"]
            return pb.RepositoryIndexResponse(
                models=[pb.RepositoryIndexResponse.ModelIndex(**entry) for entry in found]
            )

    async def RepositoryModelLoad(self, request: Any, context: Any) -> Any:
        async with self._call(context, "RepositoryModelLoad", request.model_name, admin=True):
            _refuse_files(request.parameters)
            await self.engine.load(request.model_name)
            return pb.RepositoryModelLoadResponse()

    async def RepositoryModelUnload(self, request: Any, context: Any) -> Any:
        async with self._call(context, "RepositoryModelUnload", request.model_name, admin=True):
            await self.engine.unload(request.model_name)
            return pb.RepositoryModelUnloadResponse()

    # --- one call

    async def _infer(self, request: pb.ModelInferRequest, context: Any) -> pb.ModelInferResponse:
        engine = self.engine
        version = request.model_version or None
        model = engine.model(request.model_name, version)
        inputs, initial_state = model_inputs(model, tensors.decode(request))
        step = _sequence(request, version, self._owner(context))
        admitted = engine.admit(request.ByteSize())
        try:
            found = await engine.predict(
                PredictCall(model.name, inputs, initial_state, version, step)
            )
        finally:
            admitted.leave()
        response = pb.ModelInferResponse(
            model_name=found.model, model_version=found.version, id=request.id
        )
        if step is not None:
            response.parameters["sequence_id"].string_param = step.id
        tensors.encode(response, {"outputs": found.outputs, "state": found.state}, request)
        return response

    def _call(self, context: Any, method: str, model: str = "", admin: bool = False) -> _Call:
        return _Call(self, context, method, model, admin)

    def _authorize(self, context: Any, admin: bool = False) -> None:
        keys: list[str] = self.state.api_keys
        if not keys:
            return
        token = _bearer(context)
        if token is None or not _matches(token, keys):
            raise Unauthorized("missing or invalid API key: send authorization: Bearer <key>")
        if admin and not _matches(token, self.state.settings.admin()):
            raise Forbidden(
                "changing the model repository needs an admin key (RNN_SERVE_ADMIN_KEYS)"
            )

    def _owner(self, context: Any) -> str:
        token = _bearer(context)
        return owner(token.encode()) if token and self.state.api_keys else ""

    def _record(self, context: Any, method: str, model: str, status: int, started: float) -> None:
        seconds = time.perf_counter() - started
        route = SERVICE + method
        known = model if model in self.state.metrics.known_models else ("unknown" if model else "")
        self.state.metrics.http.record(route, known, status, seconds, "grpc")
        access = self.state.access_log
        if access is not None and access.enabled():
            access.request(_request_id(context), "GRPC", route, route, known, status, seconds)


async def _read_all(
    requests: AsyncIterator[pb.ModelInferRequest],
    calls: InOrder[tuple[pb.ModelInferRequest, float], pb.ModelInferResponse],
) -> None:
    try:
        async for request in requests:
            await calls.put((request, time.perf_counter()))
    finally:
        calls.end()


class _Call:
    """Around one unary call: API keys, then the call; a ServeError becomes its gRPC status
    (UNAVAILABLE with ``retry-after`` for overload), anything else INTERNAL, logged; the call
    is counted and logged either way."""

    def __init__(self, service: Inference, context: Any, method: str, model: str, admin: bool):
        self.service, self.context, self.method, self.model = service, context, method, model
        self.admin = admin
        self.started = time.perf_counter()
        self.status = 200

    async def __aenter__(self) -> None:
        try:
            self.service._authorize(self.context, self.admin)
        except ServeError as error:
            await self._abort(error)

    async def __aexit__(self, kind: Any, error: Any, trace: Any) -> None:
        if error is None or isinstance(error, asyncio.CancelledError):
            self.service._record(self.context, self.method, self.model, self.status, self.started)
            return
        if isinstance(error, grpc.aio.AbortError):
            return
        if not isinstance(error, ServeError):
            log.error("unhandled error in %s", self.method, exc_info=(kind, error, trace))
            error = InternalError(_request_id(self.context))
        await self._abort(error)

    async def _abort(self, error: ServeError) -> None:
        self.status = error.status_code
        self.service._record(self.context, self.method, self.model, self.status, self.started)
        code = CODES.get(error.status_code, grpc.StatusCode.INTERNAL)
        metadata = tuple((k.lower(), v) for k, v in error.headers.items())
        await self.context.abort(code, error.message, metadata)


class Health(health_pb2_grpc.HealthServicer):
    """``grpc.health.v1``: SERVING once every model is loaded and warm, as /v2/health/ready."""

    def __init__(self, state: Any) -> None:
        self.state = state

    def _status(self) -> Any:
        ready = bool(getattr(self.state, "ready", False))
        serving = health_pb2.HealthCheckResponse.SERVING
        return serving if ready else health_pb2.HealthCheckResponse.NOT_SERVING

    async def Check(self, request: Any, context: Any) -> health_pb2.HealthCheckResponse:
        return health_pb2.HealthCheckResponse(status=self._status())

    async def Watch(
        self, request: Any, context: Any
    ) -> AsyncIterator[health_pb2.HealthCheckResponse]:
        last = None
        while True:
            status = self._status()
            if status != last:
                last = status
                yield health_pb2.HealthCheckResponse(status=status)
            await asyncio.sleep(1)


class GrpcServer:
    """The gRPC server beside uvicorn's, started and stopped with the app's lifespan."""

    def __init__(self, state: Any, settings: Settings) -> None:
        self.settings = settings
        self.server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", settings.max_body_bytes),
                ("grpc.max_send_message_length", -1),
                ("grpc.so_reuseport", 1),  # one port for every uvicorn worker
            ]
        )
        pb_grpc.add_GRPCInferenceServiceServicer_to_server(  # type: ignore[no-untyped-call]
            Inference(state), self.server
        )
        health_pb2_grpc.add_HealthServicer_to_server(  # type: ignore[no-untyped-call]
            Health(state), self.server
        )
        self.address = f"{settings.host}:{settings.grpc_port}"

    async def start(self) -> None:
        try:
            bound = self.server.add_insecure_port(self.address)
        except RuntimeError:
            bound = 0
        if not bound:
            raise ServeError(
                f"cannot listen for gRPC on {self.address} (in use?); "
                "RNN_SERVE_GRPC_PORT=0 turns gRPC off"
            )
        await self.server.start()
        log.info("gRPC on %s", self.address)

    async def stop(self) -> None:
        """GOAWAY to every client; calls in flight finish within the graceful timeout."""
        await self.server.stop(self.settings.graceful_timeout)


def _sequence(
    request: pb.ModelInferRequest, version: str | None, owner: str
) -> SequenceStep | None:
    """Triton's sequence parameters: sequence_id (0 or "" for none), sequence_start and
    sequence_end; the request's id is its idempotency key, as on /v2."""
    given = {name: tensors.parameter(value) for name, value in request.parameters.items()}
    sequence = given.get("sequence_id")
    if sequence in (None, 0, ""):
        return None
    if not isinstance(sequence, str | int) or isinstance(sequence, bool):
        raise MalformedRequest("sequence_id: must be a string or an integer")
    if len(str(sequence)) > MAX_SEQUENCE_ID:
        raise MalformedRequest(f"sequence_id: at most {MAX_SEQUENCE_ID} characters")
    flags = {}
    for flag in ("start", "end"):
        value = given.get(f"sequence_{flag}", False)
        if not isinstance(value, bool):
            raise MalformedRequest(f"sequence_{flag}: must be a boolean")
        flags[flag] = value
    return SequenceStep(
        str(sequence), version=version, key=request.id or None, owner=owner, **flags
    )


def _refuse_files(parameters: Any) -> None:
    for name in parameters:
        if name == "config" or name.startswith("file:"):
            raise MalformedRequest(
                f"parameters.{name}: loading a model from files or a config sent in the "
                "request is not supported; put its versions in the model directory"
            )


def _tensor_metadata(spec: dict[str, Any]) -> pb.ModelMetadataResponse.TensorMetadata:
    return pb.ModelMetadataResponse.TensorMetadata(
        name=spec["name"], datatype=spec["datatype"], shape=spec["shape"]
    )


def _matches(token: str, keys: list[str]) -> bool:
    """Compared with every key in constant time, so the time taken tells nothing."""
    valid = False
    for key in keys:
        valid |= hmac.compare_digest(token.encode(), key.encode())
    return valid


def _bearer(context: Any) -> str | None:
    for key, value in context.invocation_metadata() or ():
        if key == "authorization":
            scheme, _, token = value.partition(" ")
            return token.strip() if scheme.lower() == "bearer" else None
    return None


def _request_id(context: Any) -> str:
    given = dict(context.invocation_metadata() or ()).get("x-request-id", "")
    return request_id(given if isinstance(given, str) else "")
