"""The one place arrays go back to JSON: orjson writes NumPy arrays directly."""

from __future__ import annotations

import orjson
from starlette.responses import Response


def json_response(payload: object, status_code: int = 200) -> Response:
    body = orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY)
    return Response(body, status_code=status_code, media_type="application/json")
