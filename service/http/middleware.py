"""What the dispatcher does around every request: request ids with a JSON access log and
metrics, and API keys."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import itertools
import re
import secrets
import time

from starlette.types import Message, Scope, Send

from rnn_serve.service.errors import Forbidden, ServeError, Unauthorized
from rnn_serve.service.http.drain import Drain
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
    the request by route template, model and status, and writes one JSON log line. The
    dispatcher calls it around every HTTP request: it adds ``stamp`` to the answers it builds,
    and gives the apps it hands a request to a ``Stamped`` send."""

    def __init__(self, metrics: Metrics, log: AccessLog | None, drain: Drain) -> None:
        self.metrics = metrics
        self.log = log
        self.drain = drain

    def begin(self, scope: Scope) -> str:
        given = scope["request_id"] = request_id(_header(scope, b"x-request-id").decode("latin-1"))
        scope["started"] = time.perf_counter()
        return given

    def stamp(self, request_id: str) -> list[tuple[bytes, bytes]]:
        """The headers every answer gets, as it starts: the id, and a close while draining."""
        header = (b"x-request-id", request_id.encode())
        return [header, CLOSE] if self.drain.draining else [header]

    def record(self, scope: Scope, status: int, request_id: str) -> None:
        seconds = time.perf_counter() - scope["started"]
        # the route's template (set by the dispatcher), never the raw path, whose values would
        # explode the label set
        route = str(scope.get("route_template", "other"))
        model = scope.get("path_params", {}).get("name", "")
        model = model if model in self.metrics.known_models else ("" if not model else "unknown")
        self.metrics.http.record(route, model, status, seconds)
        if self.log is not None and self.log.enabled():
            self.log.request(
                request_id, scope["method"], scope["path"], route, model, status, seconds
            )


class Stamped:
    """A send that adds ``Observe.stamp`` to an answer another app builds, and remembers its
    status."""

    __slots__ = ("observe", "request_id", "send", "status")

    def __init__(self, send: Send, observe: Observe, request_id: str) -> None:
        self.send = send
        self.observe = observe
        self.request_id = request_id
        self.status = 0  # none sent yet

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            stamp = self.observe.stamp(self.request_id)
            message["headers"] = [*message.get("headers", []), *stamp]
        await self.send(message)


class Keys:
    """``Authorization: Bearer <key>`` on every route but health and docs, compared in
    constant time against every configured key; changes to the model repository take one of
    the admin keys."""

    def __init__(self, keys: list[str], admin_keys: list[str]) -> None:
        self.keys = [key.encode() for key in keys]
        self.admin_keys = [key.encode() for key in admin_keys]

    def refusal(self, scope: Scope) -> ServeError | None:
        """Why the request's key does not open its path; None when it does (the scope then
        names the key's owner, to whom the sequences it starts belong) or the path is open."""
        path = scope["path"]
        if path in OPEN_PATHS or path.startswith(OPEN_FOLDER):
            return None
        token = _bearer(scope)
        if token is None or not key_matches(token, self.keys):
            return Unauthorized("missing or invalid API key: send Authorization: Bearer <key>")
        if path.startswith(ADMIN_PATHS) and not key_matches(token, self.admin_keys):
            return Forbidden(
                "changing the model repository needs an admin key (RNN_SERVE_ADMIN_KEYS)"
            )
        scope["owner"] = owner(token)
        return None


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
    for key, value in scope["headers"]:  # a loop: a generator's steps cost a call each
        if key == name:
            return bytes(value)
    return b""


# A random prefix per process and a counter: unique across replicas, and cheaper than uuid4.
_ID_PREFIX = secrets.token_hex(6)
_ID_COUNTER = itertools.count(1)


def request_id(given: str) -> str:
    """The client's id when it is sane, else a new one (gRPC reads it from its metadata)."""
    return given if given and SAFE_ID.fullmatch(given) else f"{_ID_PREFIX}-{next(_ID_COUNTER):x}"
