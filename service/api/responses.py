"""The one place arrays go back to JSON: orjson writes NumPy arrays directly."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import orjson
from fastapi.responses import Response


def json_response(payload: object, status_code: int = 200) -> Response:
    body = orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY)
    return Response(body, status_code=status_code, media_type="application/json")


def error_response(
    status_code: int,
    message: str,
    details: Sequence[object] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    response = json_response({"error": message, "details": list(details or [])}, status_code)
    response.headers.update(headers or {})
    return response
