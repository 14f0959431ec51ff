"""Assembles the service, the only module that sees every layer: it loads the models (runtime),
wires the engine's parts together, and puts the HTTP layer in front of them."""

from __future__ import annotations

import asyncio
import gc
import inspect
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.datastructures import State
from starlette.types import ASGIApp, Receive, Scope, Send

from rnn_serve.service import tracing
from rnn_serve.service.engine import Engine
from rnn_serve.service.engine.dataplane import DataPlane
from rnn_serve.service.engine.models import Models
from rnn_serve.service.engine.sequences import Sequencer
from rnn_serve.service.engine.state import open_store
from rnn_serve.service.engine.threads import Threads
from rnn_serve.service.errors import ServeError
from rnn_serve.service.http import request_cost
from rnn_serve.service.http.dispatch import Dispatcher
from rnn_serve.service.http.drain import Drain
from rnn_serve.service.http.errors import install_fallbacks
from rnn_serve.service.http.middleware import Keys, Observe
from rnn_serve.service.http.openapi import mount_docs_assets
from rnn_serve.service.http.route_table import ROUTES
from rnn_serve.service.http.workers import BodyWorkers
from rnn_serve.service.logs import AccessLog
from rnn_serve.service.metrics import Metrics
from rnn_serve.service.runtime.loader import ServedModel, load_version
from rnn_serve.service.runtime.providers import check_session_provider, cpu_beside, providers_for
from rnn_serve.service.runtime.repository import OnDisk
from rnn_serve.service.settings import Settings

log = logging.getLogger(__name__)
GC_THRESHOLDS = (100_000, 50, 100)


class AppState(State):
    """The app's state, each attribute also kept on the object itself: Starlette's State
    holds them in a dict behind ``__getattr__``, which Python reaches only after a failed
    lookup (1.5 us a read, against 0.1; a request reads the engine and the workers several
    times)."""

    def __setattr__(self, key: str, value: Any) -> None:
        super().__setattr__(key, value)
        object.__setattr__(self, key, value)

    def __delattr__(self, key: str) -> None:
        super().__delattr__(key)
        object.__delattr__(self, key)

    def __setitem__(self, key: str, value: Any) -> None:
        setattr(self, key, value)

    def __delitem__(self, key: str) -> None:
        delattr(self, key)


class App(FastAPI):
    """FastAPI behind our dispatcher, which gives every request its id, logs and metrics,
    checks API keys (when there are any) and serves the route table itself; what it does not
    know (the docs' assets, unknown paths) reaches FastAPI."""

    dispatcher: Dispatcher  # the stack, once built

    def build_middleware_stack(self) -> ASGIApp:
        state = self.state
        observe = Observe(state.metrics, state.access_log, state.drain)
        keys = Keys(state.api_keys, state.settings.admin()) if state.api_keys else None
        self.dispatcher = Dispatcher(super().build_middleware_stack(), ROUTES, state, observe, keys)
        return self.dispatcher

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Requests go straight to the stack above while tracing is off: FastAPI's own call
        asks its telemetry whether it is on, on every request. Its call still takes the
        lifespan, and requests while traces are on."""
        stack = self.middleware_stack
        if stack is None or tracing.ON or scope["type"] == "lifespan":
            await super().__call__(scope, receive, send)
            return
        scope["app"] = self
        if self.root_path:
            scope["root_path"] = self.root_path
        if scope["type"] == "http":
            await self.dispatcher.http(scope, receive, send)  # a coroutine less than its call
        else:
            await stack(scope, receive, send)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.ready = False
        # In a thread: the event loop answers (liveness, and readiness with a 503) meanwhile,
        # wherever the port is open before the lifespan ends (Ray Serve, the test client).
        app.state.engine = await asyncio.to_thread(start_engine, settings, app.state.metrics)
        app.state.engine.front_end_s_per_byte = request_cost.seconds_per_byte()
        app.state.workers = BodyWorkers(settings.body_workers)
        app.state.workers.start()  # after the timing above, not during it
        if app.state.access_log is not None:
            app.state.access_log.start()
        app.state.grpc = None
        if settings.grpc_port:
            # Imported only now: its messages take Triton's names in protobuf's one pool of
            # them, where another library's (KServe's client) would clash in the same process.
            from rnn_serve.service.grpc.server import GrpcServer

            app.state.grpc = GrpcServer(app.state, settings)
            await app.state.grpc.start()
        # Everything loaded so far lives as long as the process: keeping it out of the
        # collector's generations keeps full collections, and their pauses, short.
        gc.collect()
        gc.freeze()
        # A JSON body of 64x48x1 numbers is parsed into ~3,000 lists, freed by reference
        # counting; at the default threshold (700) each request paid for several young
        # collections walking them. Rarer collections: +12% req/s on that payload.
        gc.set_threshold(*GC_THRESHOLDS)
        app.state.ready = True
        app.state.drain.install(app.state)
        app.state.engine.start_background()
        log.info("ready: %s", ", ".join(sorted(app.state.engine.models.served)))
        try:
            yield
        finally:
            app.state.ready = False
            if app.state.grpc is not None:
                await app.state.grpc.stop()  # its calls in flight finish first
            await app.state.engine.aclose()
            app.state.workers.shutdown()
            if app.state.access_log is not None:
                app.state.access_log.close()  # the lines of the last requests

    # The document and the docs are routes of the table (http/route_table.py), not FastAPI's.
    app = App(
        **_telemetry(settings.otel),
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state = AppState()
    app.state.settings, app.state.metrics = settings, Metrics()
    app.state.drain = Drain(settings.drain_s)
    app.state.access_log = AccessLog() if settings.access_log else None
    app.state.api_keys = settings.keys()  # read once: the key file too
    if app.state.api_keys:
        log.info("API keys required (%d configured)", len(app.state.api_keys))
    install_fallbacks(app)
    mount_docs_assets(app)
    return app


def _telemetry(explicit: bool) -> dict[str, Any]:
    """FastAPI's native OpenTelemetry (0.165 on) asks the global providers on every request,
    about 9 us even with none configured: off unless the OTEL_* variables or RNN_SERVE_OTEL
    ask for traces (tracing.py)."""
    if "telemetry" not in inspect.signature(FastAPI.__init__).parameters:
        return {}
    return {"telemetry": tracing.configure(explicit)}


def start_engine(settings: Settings, metrics: Metrics) -> Engine:
    """Loads and warms every model, then wires the engine: the sequencer gets the data plane's
    predict and forecast functions, the models' lookup and a store, not the data plane."""
    dataplane = DataPlane(settings, metrics, Threads(settings.inference_threads))
    try:
        models = Models(settings.model_dir, loader(settings), dataplane.deploy, metrics)
        models.open()
    except ServeError as error:
        log.critical("cannot start: %s", error.message)
        raise
    log.info("execution provider: %s", models.all()[0].model.predictor.provider)
    sequences = Sequencer(
        open_store(settings),
        dataplane.limits,
        dataplane.predict,
        dataplane.forecast_from,
        models.get,
    )
    return Engine(settings, metrics, models, dataplane, sequences)


def loader(settings: Settings) -> Callable[[OnDisk], ServedModel]:
    """Loads a version on the configured provider (with ``auto`` on a GPU, on the CPU too) and
    times it (warm-up); raises a ServeError saying what is wrong."""
    providers = providers_for(settings.provider, settings.cuda_tf32)
    beside = cpu_beside(settings.provider, providers)

    def load(on_disk: OnDisk) -> ServedModel:
        model = load_version(on_disk, providers, settings.ort_threads, beside)
        check_session_provider(settings.provider, model.predictor.provider)
        model.predictor.warm_up()
        return model

    return load
