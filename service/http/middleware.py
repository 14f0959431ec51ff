"""The outermost layers, around every route: request ids with a JSON access log and metrics,
and API keys."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import itertools
import re
import secrets
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rnn_serve.service.errors import Forbidden, ServeError, ShuttingDown, Unauthorized
from rnn_serve.service.http.drain import Drain
from rnn_serve.service.http.errors import render
from rnn_serve.service.logs import AccessLog
from rnn_serve.service.metrics import Metrics

SAFE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# Open to all, matched exactly: health probes, the docs page and its document (which names no
# model while keys are on: route_table.py), the console's page (its data come from the API,
# with a key), and the pages' static assets, by their folder.
OPEN_PATHS = frozenset(
    {"/v2/health/live", "/v2/health/ready", "/docs", "/redoc", "/openapi.json"}
    | {"/console", "/console/"}
)
OPEN_FOLDER = "/docs-assets/"
CLOSE = (b"connection", b"close")  # from SIGTERM on, with a drain (drain.py)
ADMIN_PATHS = ("/v2/repository/models/",)
STREAM_PROTOCOL = "rnn-serve"  # the WebSocket subprotocol the server accepts
BEARER_PROTOCOL = STREAM_PROTOCOL + ".bearer."  # a key offered as a subprotocol


class Observe:
    """Gives each request an id (the client's X-Request-ID when it is sane), echoes it, counts
    the request by route template, model and status, and writes one JSON log line."""

    def __init__(self, app: ASGIApp, metrics: Metrics, log: AccessLog | None, drain: Drain) -> None:
        self.app = app
        self.metrics = metrics
        self.log = log
        self.drain = drain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        scope["request_id"] = request_id
        started, status, answered = time.perf_counter(), 500, False
        scope["started"] = started

        async def send_with_id(message: Message) -> None:
            nonlocal status, answered
            if message["type"] == "http.response.start":
                status, answered = message["status"], True
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                    *((CLOSE,) if self.drain.draining else ()),
                ]
            await send(message)

        try:
            if self.drain.closing:
                error = ShuttingDown("the server is shutting down: retry on a new connection")
                await render(error)(scope, receive, send_with_id)
            else:
                await self.app(scope, receive, send_with_id)
        except asyncio.CancelledError:
            # uvicorn cancels what is still running when RNN_SERVE_GRACEFUL_TIMEOUT ends, and
            # would answer a bare 500: say what happened instead, where nothing was sent yet.
            if not answered:
                error = ShuttingDown("the server shut down before this request finished")
                await render(error)(scope, receive, send_with_id)
            raise
        finally:
            self._record(scope, status, time.perf_counter() - started, request_id)

    def _record(self, scope: Scope, status: int, seconds: float, request_id: str) -> None:
        route = _route(scope)
        model = scope.get("path_params", {}).get("name", "")
        model = model if model in self.metrics.known_models else ("" if not model else "unknown")
        self.metrics.http.record(route, model, status, seconds)
        if self.log is not None and self.log.enabled():
            self.log.request(
                request_id, scope["method"], scope["path"], route, model, status, seconds
            )


class RequireApiKey:
    """``Authorization: Bearer <key>`` on every route but health and docs, compared in
    constant time against every configured key; changes to the model repository take one of
    the admin keys."""

    def __init__(self, app: ASGIApp, keys: list[str], admin_keys: list[str]) -> None:
        self.app = app
        self.keys = [key.encode() for key in keys]
        self.admin_keys = [key.encode() for key in admin_keys]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._needs_key(scope):
            error = self._refusal(scope)
            if error is not None:
                await render(error)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _refusal(self, scope: Scope) -> ServeError | None:
        """Why the request's key does not open this path; None when it does (the scope then
        names the key's owner, to whom the sequences it starts belong)."""
        token = _bearer(scope)
        if token is None or not key_matches(token, self.keys):
            return Unauthorized("missing or invalid API key: send Authorization: Bearer <key>")
        if scope["path"].startswith(ADMIN_PATHS) and not key_matches(token, self.admin_keys):
            return Forbidden(
                "changing the model repository needs an admin key (RNN_SERVE_ADMIN_KEYS)"
            )
        scope["owner"] = owner(token)
        return None

    def _needs_key(self, scope: Scope) -> bool:
        if scope["type"] not in ("http", "websocket") or not self.keys:
            return False
        path = scope["path"]
        return path not in OPEN_PATHS and not path.startswith(OPEN_FOLDER)


def owner(token: bytes) -> str:
    """Who a key's holder is, in the sequence store: a digest, never the key itself."""
    return hashlib.blake2b(token, digest_size=8, person=b"rnn-serve-owner").hexdigest()


def _bearer(scope: Scope) -> bytes | None:
    token = bearer(_header(scope, b"authorization"))
    if token is None and scope["type"] == "websocket":
        return _offered_key(scope)
    return token


def bearer(authorization: bytes) -> bytes | None:
    """The key of an ``Authorization: Bearer <key>`` header's value."""
    scheme, _, token = authorization.partition(b" ")
    return token.strip() if scheme.lower() == b"bearer" else None


def _offered_key(scope: Scope) -> bytes | None:
    """A browser's WebSocket cannot send an Authorization header: it offers the key as a
    subprotocol, ``rnn-serve.bearer.<the key in base64url>``, beside ``rnn-serve``, which is
    the one the server accepts (the key is never echoed), as Kubernetes' API server does."""
    for offered in scope.get("subprotocols", ()):
        if offered.startswith(BEARER_PROTOCOL):
            encoded = offered[len(BEARER_PROTOCOL) :]
            try:
                return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
            except (ValueError, binascii.Error):
                return None
    return None


def key_matches(token: bytes, keys: list[bytes]) -> bool:
    valid = False
    for key in keys:  # every key, so the time taken does not tell which one matched
        valid |= hmac.compare_digest(token, key)
    return valid


def _header(scope: Scope, name: bytes) -> bytes:
    return next((value for key, value in scope["headers"] if key == name), b"")


# A random prefix per process and a counter: unique across replicas, and cheaper than uuid4.
_ID_PREFIX = secrets.token_hex(6)
_ID_COUNTER = itertools.count(1)


def _request_id(scope: Scope) -> str:
    return request_id(_header(scope, b"x-request-id").decode("latin-1"))


def request_id(given: str) -> str:
    """The client's id when it is sane, else a new one (gRPC reads it from its metadata)."""
    return given if given and SAFE_ID.fullmatch(given) else f"{_ID_PREFIX}-{next(_ID_COUNTER):x}"


def _route(scope: Scope) -> str:
    """The route template (set by the dispatcher), never the raw path, whose values would
    explode the label set."""
    return str(scope.get("route_template", "other"))
