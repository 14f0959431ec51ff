"""/v1: model metadata, per-step predictions and forecasts, in plain JSON."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from service.api.body import Body, decode, read_request
from service.api.deps import DataPlaneDep
from service.api.openapi import error_responses, json_body
from service.api.responses import json_response
from service.api.schemas import ForecastRequest, ForecastResponse, PredictRequest, PredictResponse
from service.dataplane import DataPlane
from service.sequences import SequenceSpec

router = APIRouter(prefix="/v1", tags=["v1"])


@router.get("/models", summary="The loaded models with their metadata")
async def list_models(dataplane: DataPlaneDep) -> Response:
    models = [model.describe() for model in dataplane.models.values()]
    return json_response(
        {
            "models": models,
            "limits": dataplane.settings.limits(),
            "sequences": await dataplane.sequences.describe(),
        }
    )


@router.get("/models/{name}", summary="One model's metadata", responses=error_responses(404))
async def model_metadata(name: str, dataplane: DataPlaneDep) -> Response:
    return json_response(
        dataplane.model(name).describe()
        | {"limits": dataplane.settings.limits(), "sequences": await dataplane.sequences.describe()}
    )


@router.post(
    "/models/{name}/predict",
    summary="Per-step outputs and the final hidden state",
    response_model=PredictResponse,
    responses=error_responses(400, 404, 413, 422, 503, 504),
    openapi_extra=json_body(PredictRequest),
)
async def predict(name: str, request: Request, dataplane: DataPlaneDep) -> Response:
    return await handle_predict(dataplane, await read_request(request, dataplane), name)


@router.post(
    "/models/{name}/forecast",
    summary="Forecast raw series `horizon` steps ahead, in the series' own units",
    response_model=ForecastResponse,
    responses=error_responses(400, 404, 413, 422, 503, 504),
    openapi_extra=json_body(ForecastRequest),
)
async def forecast(name: str, request: Request, dataplane: DataPlaneDep) -> Response:
    return await handle_forecast(dataplane, await read_request(request, dataplane), name)


# The handlers know no framework: the routes above and the fast path (fastpath.py) share them.


async def handle_predict(dataplane: DataPlane, body: Body, name: str) -> Response:
    model = dataplane.model(name)
    payload = await decode(dataplane, PredictRequest, body.raw)
    answer: dict[str, Any] = {"model": model.name, "version": model.version}
    if payload.sequence is None:
        outputs, state = await dataplane.predict(model, payload.inputs, payload.initial_state)
    else:
        outputs, state, seen = await dataplane.sequences.predict(
            model, payload.sequence, payload.inputs, payload.initial_state
        )
        answer["sequence"] = _status(payload.sequence, seen)
    return json_response(answer | {"outputs": outputs, "state": state})


async def handle_forecast(dataplane: DataPlane, body: Body, name: str) -> Response:
    model = dataplane.model(name)
    payload = await decode(dataplane, ForecastRequest, body.raw)
    answer: dict[str, Any] = {"model": model.name, "version": model.version}
    rows, horizon = payload.series.rows, payload.horizon
    if payload.sequence is None:
        forecasts = await dataplane.forecast(model, rows, horizon)
    else:
        forecasts, seen = await dataplane.sequences.forecast(model, payload.sequence, rows, horizon)
        answer["sequence"] = _status(payload.sequence, seen)
    answer["forecasts"] = forecasts if payload.series.nested else forecasts[0]
    return json_response(answer)


def _status(spec: SequenceSpec, seen: int) -> dict[str, Any]:
    return {"id": spec.id, "steps": seen, "ended": spec.end}
