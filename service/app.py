"""Assembles the app: lifespan (load and warm the models), routers, error handlers, docs."""

from __future__ import annotations

import gc
import inspect
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp

from service import __doc__ as description
from service import __version__
from service.api import health, v1, v2
from service.api.errors import install_error_handlers
from service.api.fastpath import FastPath
from service.api.middleware import Observe, RequireApiKey
from service.api.openapi import install_docs, install_openapi
from service.dataplane import DataPlane
from service.errors import ServeError
from service.inference.providers import check_session_provider, providers_for
from service.inference.registry import load_models
from service.metrics import Metrics
from service.settings import Settings

log = logging.getLogger("service")
GC_THRESHOLDS = (100_000, 50, 100)


class App(FastAPI):
    """FastAPI with our layers outside its middleware stack, outermost first: request ids,
    logs and metrics (every request), API keys, then the fast path (fastpath.py), which
    answers the hot routes itself; everything else goes on through FastAPI's own layers."""

    def build_middleware_stack(self) -> ASGIApp:
        settings: Settings = self.state.settings
        inner = FastPath(super().build_middleware_stack())
        guarded = RequireApiKey(inner, settings.keys())
        return Observe(guarded, self.state.metrics, self.state.model_names, settings.access_log)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.ready = False
        app.state.dataplane = start_dataplane(settings, app.state.metrics)
        app.state.model_names.update(app.state.dataplane.models)
        # Everything loaded so far lives as long as the process: keeping it out of the
        # collector's generations keeps full collections, and their pauses, short.
        gc.collect()
        gc.freeze()
        # A JSON body of 64x48x1 numbers is parsed into ~3,000 lists, freed by reference
        # counting; at the default threshold (700) each request paid for several young
        # collections walking them. Rarer collections: +12% req/s on that payload.
        gc.set_threshold(*GC_THRESHOLDS)
        app.state.ready = True
        log.info("ready: %s", ", ".join(app.state.dataplane.models))
        try:
            yield
        finally:
            app.state.ready = False
            await app.state.dataplane.aclose()

    app = App(
        **_telemetry(settings.otel),
        title="rnn-serve",
        description=description or "",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings, app.state.metrics, app.state.model_names = settings, Metrics(), set()
    if settings.keys():
        log.info("API keys required (%d configured)", len(settings.keys()))
    app.include_router(v1.router)
    app.include_router(health.router)
    app.include_router(health.metrics_router)
    app.include_router(v2.router)
    install_error_handlers(app)
    install_openapi(app)
    install_docs(app)
    return app


def _telemetry(enabled: bool) -> dict[str, Any]:
    """FastAPI's native OpenTelemetry (newer releases) asks the global providers on every
    request, about 9 us even with none configured: off unless RNN_SERVE_OTEL asks for it."""
    if enabled or "telemetry" not in inspect.signature(FastAPI.__init__).parameters:
        return {}
    return {"telemetry": {"tracing": False, "metrics": False, "logs": False}}


def start_dataplane(settings: Settings, metrics: Metrics) -> DataPlane:
    """Loads every model and runs one warm-up inference on each; any fault stops start-up."""
    try:
        providers = providers_for(settings.provider)
        models = load_models(settings.model_dir, providers, settings.ort_threads)
        for model in models.values():
            check_session_provider(settings.provider, model.predictor.provider)
            model.predictor.warm_up()
    except ServeError as error:
        log.critical("cannot start: %s", error.message)
        raise
    log.info("execution provider: %s", next(iter(models.values())).predictor.provider)
    return DataPlane(models, settings, metrics)
