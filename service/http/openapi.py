"""The OpenAPI document, derived from the route table, and interactive docs without a CDN."""

from __future__ import annotations

from collections.abc import Iterable
from http import HTTPStatus
from typing import Any, Literal, cast

import swagger_ui_bundle
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from service.http.routing import Route
from service.http.schemas import ErrorBody

REF = "#/components/schemas/{model}"
ASSETS = "/docs-assets"
OPENAPI = "/openapi.json"
Mode = Literal["validation", "serialization"]
Refs = dict[tuple[type[BaseModel], Mode], dict[str, Any]]


def document(routes: Iterable[Route], info: dict[str, str], models: list[str]) -> dict[str, Any]:
    """Every documented route with its parameters, body, answer and errors. ``models``, the
    loaded models, become the choices of ``name``: a menu in the docs, and fuzzing that
    reaches the endpoints instead of stopping at 404."""
    documented = [route for route in routes if route.documented]
    refs, components = _schemas(documented)
    paths: dict[str, dict[str, Any]] = {}
    for route in documented:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, refs, models)
    return {
        "openapi": "3.1.0",
        "info": info,
        "paths": paths,
        "components": {"schemas": components},
    }


def _schemas(routes: list[Route]) -> tuple[Refs, dict[str, Any]]:
    wanted: set[tuple[type[BaseModel], Mode]] = {(ErrorBody, "serialization")}
    for route in routes:
        if route.body is not None:
            wanted.add((route.body, "validation"))
        if route.response is not None:
            wanted.add((route.response, "serialization"))
    ordered = sorted(wanted, key=lambda pair: (pair[0].__name__, pair[1]))
    refs, top = models_json_schema(ordered, ref_template=REF)
    return cast(Refs, refs), top.get("$defs", {})


def _operation(route: Route, refs: Refs, models: list[str]) -> dict[str, Any]:
    answer = refs[(route.response, "serialization")] if route.response else {}
    error = {"application/json": {"schema": refs[(ErrorBody, "serialization")]}}
    operation: dict[str, Any] = {
        "tags": [route.tag],
        "summary": route.summary,
        "operationId": _operation_id(route),
        "parameters": [_parameter(name, models) for name in route.parameters],
        "responses": {
            "200": {
                "description": "Successful Response",
                "content": {"application/json": {"schema": answer}},
            },
            **{
                str(code): {"description": HTTPStatus(code).phrase, "content": error}
                for code in route.errors
            },
        },
    }
    if route.body is not None:
        schema = refs[(route.body, "validation")]
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": schema}},
        }
    return operation


def _operation_id(route: Route) -> str:
    """``post_v1_models_name_predict``: unique, since a method and path appear once."""
    words = route.path.replace("{", "").replace("}", "").split("/")
    return "_".join([route.method.lower(), *filter(None, words)])


def _parameter(name: str, models: list[str]) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "title": name.title()}
    if name == "name" and models:
        schema["enum"] = models
    return {"name": name, "in": "path", "required": True, "schema": schema}


def docs_page(title: str) -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url=OPENAPI,
        title=f"{title} - docs",
        swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS}/favicon-32x32.png",
    )


def mount_docs_assets(app: FastAPI) -> None:
    app.mount(ASSETS, StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="docs-assets")
