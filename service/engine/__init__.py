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


@dataclass
class Engine:
    settings: Settings
    metrics: Metrics
    models: Models
    dataplane: DataPlane
    sequences: Sequencer
    _poller: asyncio.Task[None] | None = field(default=None, repr=False)

    def start_polling(self) -> None:
        """With RNN_SERVE_MODEL_POLL_S, the model directory is read again that often."""
        if self.settings.model_poll_s:
            self._poller = asyncio.get_running_loop().create_task(self._poll())

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.settings.model_poll_s or 0)
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
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        await self.sequences.store.close()
        self.dataplane.threads.shutdown()
