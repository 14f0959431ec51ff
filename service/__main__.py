"""``python -m service [--host H] [--port P]``: serve the models of RNN_SERVE_MODEL_DIR."""

from __future__ import annotations

import argparse
import logging

import uvicorn

from service.settings import Settings


def main() -> None:
    settings = Settings()
    parser = argparse.ArgumentParser(prog="python -m service", description=__doc__)
    parser.add_argument("--host", default=settings.host)
    parser.add_argument("--port", type=int, default=settings.port)
    args = parser.parse_args()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s"
    )
    uvicorn.run(
        "service.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        log_level=settings.log_level,
        timeout_graceful_shutdown=settings.graceful_timeout,
        proxy_headers=settings.proxy_headers,
    )


if __name__ == "__main__":
    main()
