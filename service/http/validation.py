"""The one place pydantic's validation errors become a message and details that a client reads."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from rnn_serve.service.errors import InvalidInput, ServeError


def invalid(
    error: ValidationError,
    kind: type[ServeError] = InvalidInput,
    prefix: str = "",
    names: Mapping[str, str] | None = None,
) -> ServeError:
    """``kind`` naming the first problem (and how many more), with every one in its details.
    ``names`` renames locations, for a model filled from fields spelt another way."""
    details = [_detail(item, names or {}) for item in _errors(error)]
    more = f" (and {len(details) - 1} more)" if len(details) > 1 else ""
    return kind(prefix + details[0]["msg"] + more, details)


def _errors(error: ValidationError) -> list[ErrorDetails]:
    return error.errors(include_url=False, include_input=False, include_context=False)


def _detail(item: ErrorDetails, names: Mapping[str, str]) -> dict[str, Any]:
    loc = [names.get(part, part) if isinstance(part, str) else part for part in item["loc"]]
    return {"loc": loc, "msg": _message(item, ".".join(map(str, loc))), "type": item["type"]}


def _message(item: ErrorDetails, loc: str) -> str:
    if item["type"] == "tensor":
        return str(item["msg"])  # already names the element
    if item["type"] == "extra_forbidden":
        return f"unknown field {loc!r}"
    if item["type"] == "missing":
        return f"missing field {loc!r}"
    return f"{loc}: {item['msg']!s}"
