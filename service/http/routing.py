"""What a route is, and what its handler receives: the one shape every endpoint is written in.

The table of routes (route_table.py) is the only place a method and a path are written. The
dispatcher (dispatch.py) serves them and the OpenAPI document (openapi.py) describes them.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from pydantic import BaseModel
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import Scope

from rnn_serve.service.engine import Engine
from rnn_serve.service.errors import NotReady
from rnn_serve.service.http.workers import BodyWorkers
from rnn_serve.service.settings import Settings

PARAMETER = re.compile(r"\{(\w+)\}")


class Call:
    """One request as its handler sees it: path parameters, headers and the whole body."""

    __slots__ = ("_headers", "body", "owner", "params", "scope", "state")

    def __init__(
        self, state: Any, params: dict[str, str], scope: Scope, body: bytes = b"", owner: str = ""
    ) -> None:
        self.state = state  # the app's state: settings, readiness, and the engine once loaded
        self.params = params
        self.scope = scope
        self.body = body
        self.owner = owner  # the API key's digest, with keys on: a sequence belongs to its key
        self._headers: Headers | None = None

    @property
    def headers(self) -> Headers:
        """Read when a handler asks (most never do)."""
        if self._headers is None:
            self._headers = RequestHeaders(scope=self.scope)
        return self._headers

    @property
    def engine(self) -> Engine:
        engine: Engine | None = getattr(self.state, "engine", None)
        if engine is None:
            raise NotReady("the service is starting: models are not loaded yet")
        return engine

    @property
    def workers(self) -> BodyWorkers:
        """The processes that read large bodies and write large answers."""
        workers: BodyWorkers = self.state.workers
        return workers

    @property
    def settings(self) -> Settings:
        settings: Settings = self.state.settings
        return settings


class RequestHeaders(Headers):
    """A request's headers. ``get`` of one that is absent (most are) returns the default without
    raising and catching a KeyError, as Mapping's does."""

    def get(self, key: str, default: Any = None) -> Any:
        name = key.lower().encode("latin-1")
        for header, value in self._list:
            if header == name:
                return value.decode("latin-1")
        return default


Handler = Callable[[Call], Awaitable[Response]]


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # a template: "/v1/models/{name}/predict"
    handler: Handler
    summary: str
    tag: str
    body: type[BaseModel] | None = None  # the JSON body, for the document (handlers parse it)
    response: type[BaseModel] | None = None
    errors: tuple[int, ...] = ()
    documented: bool = True
    # Queues for inference: refused before its body is read while the wait is past the bound.
    queued: bool = False

    @cached_property
    def pattern(self) -> re.Pattern[str]:
        return re.compile(PARAMETER.sub(r"(?P<\1>[^/]+)", self.path))

    @property
    def parameters(self) -> list[str]:
        return PARAMETER.findall(self.path)
