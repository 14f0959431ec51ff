"""Draining on shutdown (RNN_SERVE_DRAIN_S): a replica told to stop keeps serving a while.

A load balancer (Kubernetes' endpoints, an ingress) takes seconds to stop sending new
connections to a replica whose readiness fails. Stopping at once loses what arrives meanwhile.
So on the first SIGTERM:

1. readiness answers 503 at once, and the server keeps serving for ``seconds``, each answer
   carrying ``Connection: close`` (clients reconnect, elsewhere, rather than keep a connection
   the shutdown would close under them);
2. then it stops accepting connections, and for CLOSING_S more a request on a connection still
   open (one idle through the drain) gets a 503 with ``Connection: close``, where closing that
   connection at once would drop the request as it arrives;
3. then uvicorn's own shutdown finishes the requests in flight, closes what is left, and exits 0.

A second SIGTERM starts that shutdown at once.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

log = logging.getLogger(__name__)

CLOSING_S = 1.0  # step 2: clients that reuse a pooled connection do so within a second


class Drain:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.draining = False  # from SIGTERM on: not ready, every answer closes its connection
        self.closing = False  # from the drain's end: every new request gets a 503
        self._finishing: asyncio.Task[None] | None = None  # held: the loop keeps tasks weakly

    def install(self, state: Any) -> None:
        """Wraps the SIGTERM handler uvicorn installed (call it from the lifespan, after
        uvicorn's); ``state.ready`` turns false when the drain begins."""
        if self.seconds <= 0 or threading.current_thread() is not threading.main_thread():
            return
        shutdown = signal.getsignal(signal.SIGTERM)
        if not callable(shutdown):
            return  # not under uvicorn: nothing to delay
        # uvicorn's handler is its Server's bound method; the Server holds the listeners (from
        # after the lifespan has started, so they are looked up when the drain ends).
        uvicorn_server = getattr(shutdown, "__self__", None)
        loop = asyncio.get_running_loop()

        def on_sigterm(signum: int, frame: FrameType | None) -> None:
            if self.draining:
                shutdown(signum, frame)
                return
            self.draining, state.ready = True, False
            log.info("SIGTERM: not ready; serving %g s more, then shutting down", self.seconds)
            loop.call_soon_threadsafe(self._start, uvicorn_server, lambda: shutdown(signum, frame))

        signal.signal(signal.SIGTERM, on_sigterm)

    def _start(self, uvicorn_server: object, shutdown: Callable[[], None]) -> None:
        loop = asyncio.get_running_loop()
        self._finishing = loop.create_task(self._finish(uvicorn_server, shutdown))

    async def _finish(self, uvicorn_server: object, shutdown: Callable[[], None]) -> None:
        await asyncio.sleep(self.seconds)
        self.closing = True
        listeners: list[asyncio.Server] = getattr(uvicorn_server, "servers", [])
        for listener in listeners:
            listener.close()
        log.info(
            "drained: not accepting connections; requests on open ones get 503 for %g s",
            CLOSING_S,
        )
        await asyncio.sleep(CLOSING_S)
        shutdown()
