"""Every route of the service, written once: the dispatcher serves this table and the OpenAPI
document describes it."""

from __future__ import annotations

from starlette.responses import Response

from rnn_serve.service import __doc__ as description
from rnn_serve.service import __version__
from rnn_serve.service.http import console, health, repository, timeseries, v1, v2
from rnn_serve.service.http.middleware import OPEN_PATHS
from rnn_serve.service.http.oip import InferenceRequest
from rnn_serve.service.http.openapi import OPENAPI, docs_page, document, redoc_page
from rnn_serve.service.http.responses import json_response
from rnn_serve.service.http.routing import Call, Route
from rnn_serve.service.http.schemas import (
    ForecastRequest,
    ForecastResponse,
    PredictRequest,
    PredictResponse,
)

TITLE = "rnn-serve"
MODEL, VERSIONED = "/v2/models/{name}", "/v2/models/{name}/versions/{version}"
DATA_ERRORS = (400, 404, 413, 422, 503, 504)
INFER_ERRORS = (400, 404, 413, 503, 504)  # the protocol answers every bad request with 400
INFER = "Inference: JSON tensors, or binary ones with Inference-Header-Content-Length"


async def openapi_json(call: Call) -> Response:
    """Built once per set of served models (the document lists their names, unless API keys
    are on: the document is open to all, and the names are not)."""
    names = [] if call.state.api_keys else sorted(model.name for model in call.engine.newest())
    cached = getattr(call.state, "openapi", None)
    if cached is None or cached[0] != names:
        info = {"title": TITLE, "description": description or "", "version": __version__}
        open_paths = OPEN_PATHS if call.state.api_keys else None
        call.state.openapi = (names, document(ROUTES, info, names, open_paths))
    return json_response(call.state.openapi[1])


async def docs(call: Call) -> Response:
    return docs_page(TITLE)


async def redoc(call: Call) -> Response:
    return redoc_page(TITLE)


ROUTES = (
    Route("GET", "/v1/models", v1.list_models, "The loaded models with their metadata", "v1"),
    Route(
        "GET", "/v1/models/{name}", v1.model_metadata, "One model's metadata", "v1", errors=(404,)
    ),
    Route(
        "POST",
        "/v1/models/{name}/predict",
        v1.predict,
        "Per-step outputs and the final hidden state",
        "v1",
        body=PredictRequest,
        response=PredictResponse,
        errors=DATA_ERRORS,
        queued=True,
    ),
    Route(
        "POST",
        "/v1/models/{name}/forecast",
        v1.forecast,
        "Forecast raw series `horizon` steps ahead, in the series' own units",
        "v1",
        body=ForecastRequest,
        response=ForecastResponse,
        errors=DATA_ERRORS,
        queued=True,
    ),
    Route(
        "POST",
        "/v1/timeseries/forecast",
        timeseries.forecast,
        "KServe's time-series protocol: forecasts with quantiles and timestamps",
        "timeseries",
        body=timeseries.TimeSeriesForecastRequest,
        errors=DATA_ERRORS,
        queued=True,
    ),
    Route(
        "GET",
        "/v1/timeseries/models",
        timeseries.models,
        "The models that forecast (KServe's time-series protocol)",
        "timeseries",
    ),
    Route("GET", "/v2/health/live", health.live, "The process is up", "health"),
    Route(
        "GET",
        "/v2/health/ready",
        health.ready,
        "Every model is loaded and has run a warm-up inference",
        "health",
        errors=(503,),
    ),
    Route("GET", "/v2", v2.server_metadata, "Server metadata and supported extensions", "v2"),
    Route("GET", MODEL, v2.model_metadata, "Model metadata", "v2", errors=(404,)),
    Route("GET", VERSIONED, v2.model_metadata, "Model metadata", "v2", errors=(404,)),
    Route("GET", f"{MODEL}/ready", v2.model_ready, "Model readiness", "v2", errors=(404,)),
    Route("GET", f"{VERSIONED}/ready", v2.model_ready, "Model readiness", "v2", errors=(404,)),
    *(
        Route(
            "POST", path, v2.infer, INFER, "v2", InferenceRequest, None, INFER_ERRORS, queued=True
        )
        for path in (f"{MODEL}/infer", f"{VERSIONED}/infer")
    ),
    Route(
        "POST",
        "/v2/repository/index",
        repository.index,
        "Every model and version found, with its state (READY, UNAVAILABLE, LOADING) and why",
        "repository",
        body=repository.IndexRequest,
        errors=(400,),
    ),
    Route(
        "POST",
        "/v2/repository/models/{name}/load",
        repository.load,
        "Load (or load again) a model's versions from the model directory; needs an admin key",
        "repository",
        body=repository.ChangeRequest,
        errors=(400, 401, 403),
    ),
    Route(
        "POST",
        "/v2/repository/models/{name}/unload",
        repository.unload,
        "Stop serving every version of a model; needs an admin key",
        "repository",
        body=repository.ChangeRequest,
        errors=(400, 401, 403, 404),
    ),
    Route(
        "GET",
        "/v1/console/server",
        console.server,
        "The console's server panel: totals since start (requests, errors, refusals, latency "
        "and batch-size histograms, device calls) and gauges (queued work, sequences)",
        "console",
        errors=(404,),
    ),
    Route("GET", "/console", console.page, "The web console", "console", documented=False),
    Route("GET", "/console/", console.slash, "The web console", "console", documented=False),
    Route("GET", "/metrics", health.metrics, "Prometheus metrics", "metrics", documented=False),
    Route("GET", OPENAPI, openapi_json, "This document", "docs", documented=False),
    Route("GET", "/docs", docs, "Interactive docs", "docs", documented=False),
    Route("GET", "/redoc", redoc, "Reference docs", "docs", documented=False),
)
