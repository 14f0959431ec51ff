"""The OpenAPI document, derived from the route table, and interactive docs without a CDN:
Swagger UI at /docs and ReDoc at /redoc, from browser files vendored in ``static/`` (their
versions in ``static/VERSIONS``; ``scripts/vendor-docs-ui.sh`` refreshes them)."""

from __future__ import annotations

from collections.abc import Iterable
from http import HTTPStatus
from pathlib import Path
from typing import Any, Literal, cast

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from rnn_serve.service.http.routing import Route
from rnn_serve.service.http.schemas import ErrorBody

REF = "#/components/schemas/{model}"
ASSETS = "/docs-assets"
STATIC = Path(__file__).parent / "static"
OPENAPI = "/openapi.json"
BEARER = {"bearer": {"type": "http", "scheme": "bearer", "description": "an API key"}}
Mode = Literal["validation", "serialization"]
Refs = dict[tuple[type[BaseModel], Mode], dict[str, Any]]


def document(
    routes: Iterable[Route],
    info: dict[str, str],
    models: list[str],
    open_paths: frozenset[str] | None = None,
) -> dict[str, Any]:
    """Every documented route with its parameters, body, answer and errors. ``models``, the
    loaded models, become the choices of ``name``: a menu in the docs, and fuzzing that
    reaches the endpoints instead of stopping at 404. With ``open_paths`` (API keys on), every
    other operation asks for a bearer key: the docs' Authorize button takes it."""
    documented = [route for route in routes if route.documented]
    refs, components = _schemas(documented)
    paths: dict[str, dict[str, Any]] = {}
    for route in documented:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, refs, models)
    found: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": info,
        "paths": paths,
        "components": {"schemas": components},
    }
    if open_paths is not None:
        found["components"]["securitySchemes"] = BEARER
        found["security"] = [{"bearer": []}]
        for path, operations in paths.items():
            for operation in operations.values():
                if path in open_paths:
                    operation["security"] = []
                else:
                    operation["responses"]["401"] = _error(refs, HTTPStatus.UNAUTHORIZED)
    return found


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
            **{str(code): _error(refs, HTTPStatus(code)) for code in route.errors},
        },
    }
    if route.body is not None:
        schema = refs[(route.body, "validation")]
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": schema}},
        }
    return operation


def _error(refs: Refs, status: HTTPStatus) -> dict[str, Any]:
    schema = refs[(ErrorBody, "serialization")]
    return {"description": status.phrase, "content": {"application/json": {"schema": schema}}}


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
        swagger_js_url=f"{ASSETS}/swagger-ui/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS}/swagger-ui/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS}/swagger-ui/favicon-32x32.png",
        swagger_ui_parameters={"persistAuthorization": True},
    )


def redoc_page(title: str) -> HTMLResponse:
    return get_redoc_html(
        openapi_url=OPENAPI,
        title=f"{title} - reference",
        redoc_js_url=f"{ASSETS}/redoc/redoc.standalone.js",
        redoc_favicon_url=f"{ASSETS}/swagger-ui/favicon-32x32.png",
        with_google_fonts=False,
    )


def mount_docs_assets(app: FastAPI) -> None:
    app.mount(ASSETS, StaticFiles(directory=STATIC), name="docs-assets")
