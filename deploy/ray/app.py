"""rnn-serve as a Ray Serve deployment: the same FastAPI app, one copy in each replica.

`serve run deploy/ray/serve.yaml` (from the repository root, with rnn-serve and ray[serve]
installed on every node and the root on PYTHONPATH) deploys it with the settings and the
autoscaling of that file. Replicas share sequence state through RNN_SERVE_STATE_URL (Redis):
a sequence goes on whichever replica Ray routes its next step to.
"""

from __future__ import annotations

import os

from fastapi import FastAPI
from ray import serve
from starlette.types import Message, Receive, Scope, Send

from rnn_serve.service.app import create_app
from rnn_serve.service.settings import Settings


class RequestIdFromRay:
    """Ray's proxy gives every request an X-Request-ID (the client's, or one of its own), passes
    it to the app, and sets it on the response itself: the app's echo of the same id would
    repeat the header."""

    def __init__(self, app: FastAPI) -> None:
        self.app, self.state = app, app.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_without_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers", [])
                message["headers"] = [(k, v) for k, v in headers if k.lower() != b"x-request-id"]
            await send(message)

        await self.app(scope, receive, send_without_id if scope["type"] == "http" else send)


def build_app() -> RequestIdFromRay:
    """Called on each replica as it starts, so the settings are read from the replica's own
    environment (the config's runtime_env). Without RNN_SERVE_MODEL_DIR it serves the shipped
    models, found beside the package whatever Ray's working directory is. No gRPC server of
    its own: Ray Serve's proxy is the way in (RNN_SERVE_GRPC_PORT turns it on)."""
    settings = Settings() if "RNN_SERVE_GRPC_PORT" in os.environ else Settings(grpc_port=0)
    return RequestIdFromRay(create_app(settings))


@serve.deployment
@serve.ingress(build_app)
class RnnServe:
    def check_health(self) -> None:
        """Ray restarts a replica whose check raises: one whose models are not loaded (the
        app's readiness, as /v2/health/ready answers it)."""
        if not self.app.state.ready:  # type: ignore[attr-defined]
            raise RuntimeError("rnn-serve is not ready: its models are not loaded")


app = RnnServe.bind()
