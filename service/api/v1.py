"""/v1: model metadata, per-step predictions and forecasts, in plain JSON."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from service.api.body import parse_body
from service.api.deps import DataPlaneDep
from service.api.openapi import error_responses, json_body
from service.api.responses import json_response
from service.api.schemas import ForecastRequest, ForecastResponse, PredictRequest, PredictResponse

router = APIRouter(prefix="/v1", tags=["v1"])


@router.get("/models", summary="The loaded models with their metadata")
async def list_models(dataplane: DataPlaneDep) -> Response:
    models = [model.describe() for model in dataplane.models.values()]
    return json_response({"models": models, "limits": dataplane.settings.limits()})


@router.get("/models/{name}", summary="One model's metadata", responses=error_responses(404))
async def model_metadata(name: str, dataplane: DataPlaneDep) -> Response:
    return json_response(dataplane.model(name).describe() | {"limits": dataplane.settings.limits()})


@router.post(
    "/models/{name}/predict",
    summary="Per-step outputs and the final hidden state",
    response_model=PredictResponse,
    responses=error_responses(400, 404, 413, 422),
    openapi_extra=json_body(PredictRequest),
)
async def predict(name: str, request: Request, dataplane: DataPlaneDep) -> Response:
    model = dataplane.model(name)
    payload = await parse_body(request, PredictRequest, dataplane)
    outputs, state = await dataplane.predict(model, payload.inputs, payload.initial_state)
    return json_response(
        {"model": model.name, "version": model.version, "outputs": outputs, "state": state}
    )


@router.post(
    "/models/{name}/forecast",
    summary="Forecast raw series `horizon` steps ahead, in the series' own units",
    response_model=ForecastResponse,
    responses=error_responses(400, 404, 413, 422),
    openapi_extra=json_body(ForecastRequest),
)
async def forecast(name: str, request: Request, dataplane: DataPlaneDep) -> Response:
    model = dataplane.model(name)
    payload = await parse_body(request, ForecastRequest, dataplane)
    forecasts = await dataplane.forecast(model, payload.series.rows, payload.horizon)
    answer = forecasts if payload.series.nested else forecasts[0]
    return json_response({"model": model.name, "version": model.version, "forecasts": answer})
