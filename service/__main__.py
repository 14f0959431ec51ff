"""``python -m rnn_serve.service [--host H] [--port P] [--model-dir DIR]``: serve the models of
RNN_SERVE_MODEL_DIR (by default, the example models the package carries)."""

from __future__ import annotations

import argparse
import os
import signal
from pathlib import Path
from types import FrameType

import uvicorn

from rnn_serve.service.http.connection import GuardedHttpTools
from rnn_serve.service.logs import configure as configure_logging
from rnn_serve.service.settings import ENV_PREFIX, Settings


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m rnn_serve.service", description=__doc__)
    add_arguments(parser)
    args = parser.parse_args()
    serve(args.host, args.port, args.model_dir)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """--host, --port and --model-dir; every other setting is an RNN_SERVE_* variable
    (docs/configuration.md)."""
    defaults = Settings.model_fields
    parser.add_argument("--host", default=None, help=f"default {defaults['host'].default}")
    parser.add_argument(
        "--port", type=int, default=None, help=f"default {defaults['port'].default}"
    )
    parser.add_argument(
        "--model-dir",
        type=_directory,
        default=None,
        help="default RNN_SERVE_MODEL_DIR, else the example models the package carries",
    )


def _directory(text: str) -> Path:
    """--model-dir as argparse refuses it (exit 2, naming it) rather than as a traceback."""
    path = Path(text)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is not a directory")
    return path


def serve(host: str | None, port: int | None, model_dir: Path | None = None) -> None:
    if model_dir is not None:  # the app reads its settings in each worker: through the environment
        os.environ[f"{ENV_PREFIX}MODEL_DIR"] = str(model_dir.resolve())
    settings = Settings(host=host) if host else Settings()  # checked for the address it gets
    configure_logging(settings.log_level)
    # uvicorn finishes in-flight requests on SIGTERM/SIGINT, then re-raises the signal with the
    # handler it found at start. With this no-op one, a completed graceful shutdown exits 0.
    for stop in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop, _graceful)
    uvicorn.run(
        "rnn_serve.service.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port if port is None else port,
        log_level=settings.log_level,
        log_config=None,  # service/logs.py: JSON lines
        access_log=False,  # the service writes its own, with request ids
        server_header=False,  # no library names or versions in responses
        timeout_graceful_shutdown=settings.graceful_timeout,
        proxy_headers=settings.proxy_headers,
        http=GuardedHttpTools,  # timeouts and header limits; the connection bound
        timeout_keep_alive=settings.keepalive_timeout_s,  # type: ignore[arg-type]
        # uvicorn's own bound (its default, or past ours): below it, our refusal names ours
        ws_max_size=max(16 << 20, settings.stream_max_frame_bytes + 1),
        workers=settings.workers,
    )


def _graceful(signum: int, frame: FrameType | None) -> None:
    """Reached only after uvicorn's own shutdown has finished."""


if __name__ == "__main__":
    main()
