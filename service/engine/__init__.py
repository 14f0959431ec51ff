"""The engine: limits, admission, deadlines, batching, sequences and forecasting, all on arrays.

It imports the runtime below it and nothing of HTTP above it. ``service/app.py`` wires its
parts together into one ``Engine``.
"""

from __future__ import annotations

from dataclasses import dataclass

from service.engine.dataplane import DataPlane
from service.engine.sequences import Sequencer
from service.metrics import Metrics
from service.settings import Settings


@dataclass(frozen=True)
class Engine:
    settings: Settings
    metrics: Metrics
    dataplane: DataPlane
    sequences: Sequencer

    async def refresh_metrics(self) -> None:
        """Gauges read at scrape time; the store's may be unavailable, and the scrape still
        succeeds, saying so."""
        self.dataplane.refresh_gauges()
        status = await self.sequences.describe()
        self.metrics.store_available.labels(status["store"]).set(int(status["available"]))
        if status["live"] is not None:
            self.metrics.sequences.labels(status["store"]).set(status["live"])

    async def aclose(self) -> None:
        await self.sequences.store.close()
        self.dataplane.threads.shutdown()
