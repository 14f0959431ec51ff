"""The one error hierarchy. Each error carries its HTTP status; one handler renders them all."""

from __future__ import annotations

from typing import Any


class ServeError(Exception):
    """Base class. ``message`` is safe to show to clients; ``details`` lists per-location errors."""

    status_code = 500
    headers: dict[str, str] = {}  # noqa: RUF012 - read-only per class

    def __init__(
        self,
        message: str,
        details: list[dict[str, Any]] | None = None,
        *,
        loc: list[str | int] | None = None,
        kind: str = "invalid",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if headers is not None:
            self.headers = headers
        if details is None and loc is not None:
            details = [{"loc": loc, "msg": message, "type": kind}]
        self.details = details or []

    def __reduce__(self) -> tuple[Any, ...]:
        # Raised in a worker process (http/workers.py), an error comes back pickled: with its
        # details and headers, which the default (the class called with ``args``) would drop.
        return _restore, (type(self), self.args, self.__dict__)


def _restore(cls: type[ServeError], args: tuple[Any, ...], fields: dict[str, Any]) -> ServeError:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(fields)
    return error


class InvalidInput(ServeError):
    """The payload is well-formed JSON but not what the model takes."""

    status_code = 422


class MalformedRequest(ServeError):
    """The request cannot be parsed at all (bad JSON, bad binary framing)."""

    status_code = 400


class RequestTimeout(ServeError):
    """Headers or a body that did not arrive in time (the connection is closed)."""

    status_code = 408


class HeadersTooLarge(ServeError):
    status_code = 431


class PayloadTooLarge(ServeError):
    status_code = 413


class UnsupportedMediaType(ServeError):
    """A body of a type or encoding the service does not read."""

    status_code = 415


class ModelNotFound(ServeError):
    status_code = 404


class Disabled(ServeError):
    """A feature the operator turned off: as if its path did not exist."""

    status_code = 404


class LoadRefused(ServeError):
    """A repository load found nothing of the model it could serve (the reasons say why)."""

    status_code = 400


class AlreadyApplied(ServeError):
    """A sequence request whose idempotency key was applied before its latest one."""

    status_code = 409


class IdempotencyKeyReused(InvalidInput):
    """An idempotency key sent again with a request other than the one it was first sent with."""


class SequenceEnded(ServeError):
    """The version a stored sequence runs on is no longer served."""

    status_code = 410


class MethodNotAllowed(ServeError):
    status_code = 405


class NotReady(ServeError):
    status_code = 503


class ShuttingDown(ServeError):
    """A request on a connection opened before the server stopped accepting: retry on a new
    connection (another replica)."""

    status_code = 503
    headers = {"Retry-After": "1"}  # noqa: RUF012


class Unauthorized(ServeError):
    status_code = 401
    headers = {"WWW-Authenticate": 'Bearer realm="rnn-serve"'}  # noqa: RUF012


class Forbidden(ServeError):
    """A valid key that may not do this (repository changes need an admin key)."""

    status_code = 403


class Overloaded(ServeError):
    """More requests are waiting for inference than the service admits: retry shortly."""

    status_code = 503
    headers = {"Retry-After": "1"}  # noqa: RUF012


class InferenceTimeout(ServeError):
    status_code = 504


class SequenceNotFound(ServeError):
    status_code = 404


class StateUnavailable(ServeError):
    """The sequence state store cannot be reached."""

    status_code = 503
    headers = {"Retry-After": "1"}  # noqa: RUF012


class InternalError(ServeError):
    """A fault of ours: logged in full, answered without a trace, path or version, but with
    the request's id, which the log line carries too."""

    def __init__(self, request_id: str | None = None) -> None:
        suffix = f" (request id {request_id})" if request_id else ""
        super().__init__(f"internal server error{suffix}")


class ModelLoadError(ServeError):
    """A model file is missing, corrupt or does not match its manifest. Fatal at start-up."""


class ProviderUnavailable(ServeError):
    """The configured execution provider cannot be used on this machine. Fatal at start-up."""
