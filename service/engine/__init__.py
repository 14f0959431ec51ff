"""The engine: limits, admission, deadlines, batching, sequences and forecasting, all on arrays.

It imports the runtime below it and nothing of HTTP above it. ``service/app.py`` wires its
parts together into one ``Engine``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from service.engine.dataplane import DataPlane
from service.engine.models import Models
from service.engine.sequences import Sequencer
from service.metrics import Metrics
from service.settings import Settings

log = logging.getLogger(__name__)
LOOP_LAG_INTERVAL_S = 0.1


@dataclass
class Engine:
    settings: Settings
    metrics: Metrics
    models: Models
    dataplane: DataPlane
    sequences: Sequencer
    _tasks: list[asyncio.Task[None]] = field(default_factory=list, repr=False)

    def start_background(self) -> None:
        """The event loop's lag monitor, and with RNN_SERVE_MODEL_CONTROL=poll the poller that
        reads the model directory again every RNN_SERVE_MODEL_POLL_S."""
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._watch_loop()))
        if self.settings.model_control == "poll":
            self._tasks.append(loop.create_task(self._poll()))

    async def _watch_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await asyncio.sleep(LOOP_LAG_INTERVAL_S)
            self.metrics.loop_lag.observe(max(loop.time() - started - LOOP_LAG_INTERVAL_S, 0.0))

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.settings.model_poll_s)
            try:
                await self.models.refresh()
            except Exception:  # a fault of one pass must not end polling
                log.exception("polling the model directory failed")

    async def refresh_metrics(self) -> None:
        """Gauges read at scrape time; the store's may be unavailable, and the scrape still
        succeeds, saying so."""
        self.dataplane.refresh_gauges(self.models.all())
        status = await self.sequences.describe()
        self.metrics.store_available.labels(status["store"]).set(int(status["available"]))
        if status["live"] is not None:
            self.metrics.sequences.labels(status["store"]).set(status["live"])

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.sequences.store.close()
        self.dataplane.workers.shutdown()
        self.dataplane.threads.shutdown()
