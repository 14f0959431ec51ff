"""Draining on shutdown (RNN_SERVE_DRAIN_S): a replica told to stop keeps serving a while.

A load balancer (Kubernetes' endpoints, an ingress) takes seconds to stop sending new
connections to a replica whose readiness fails. Stopping at once loses what arrives meanwhile.
So on the first SIGTERM readiness answers 503 at once, the server keeps serving for
``seconds``, and each answer meanwhile carries ``Connection: close`` (clients reconnect,
elsewhere, rather than keep a connection the shutdown would close under them). Then uvicorn's
own shutdown runs: it stops accepting, finishes the requests in flight, and exits 0. A second
SIGTERM starts that shutdown at once.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType
from typing import Any

log = logging.getLogger(__name__)


class Drain:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.draining = False

    def install(self, state: Any) -> None:
        """Wraps the SIGTERM handler uvicorn installed (call it from the lifespan, after
        uvicorn's); ``state.ready`` turns false when the drain begins."""
        if self.seconds <= 0 or threading.current_thread() is not threading.main_thread():
            return
        shutdown = signal.getsignal(signal.SIGTERM)
        if not callable(shutdown):
            return  # not under uvicorn: nothing to delay

        def on_sigterm(signum: int, frame: FrameType | None) -> None:
            if self.draining:
                shutdown(signum, frame)
                return
            self.draining, state.ready = True, False
            log.info("SIGTERM: not ready; serving %g s more, then shutting down", self.seconds)
            later = threading.Timer(self.seconds, shutdown, (signum, frame))
            later.daemon = True
            later.start()

        signal.signal(signal.SIGTERM, on_sigterm)
