"""How fast admitted work is really done, so that a wait estimate holds on a busy machine.

The work a request brings is what the start-up timings expect (runtime/cost.py,
http/request_cost.py), on an idle machine. Under load the cores are shared (with clients, the
event loop, copies the timings never saw) and the same work takes longer; batching, on the
other hand, runs many requests' work in one call. So the backlog is divided by a measured
pace: the expected seconds of work finished per second, over short windows, smoothed.

A window counts only when work was queued throughout it (the backlog never fell below half
of what admission allows): otherwise it measures how fast clients send, not how fast the
server works. A window without such a queue moves the pace back towards the start-up
timings, so a burst's slowness is not held against the quiet that follows it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

WINDOW_S = 0.25  # long enough to finish several heavy requests, short enough to follow a burst
NEW_WEIGHT = 0.5  # of each window in the smoothed pace: a burst is followed within a second
QUEUED_SHARE = 0.5  # of the admissible backlog that must stay queued for a window to count
SPREAD = 16  # the pace stays within this factor of the start-up timings either way


class Pace:
    """Expected seconds of work done per second. It starts at ``parallelism``: each inference
    thread doing its expected work in its expected time."""

    def __init__(
        self, parallelism: int, max_queue_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.nominal = float(parallelism)
        self.rate = self.nominal
        self.max_queue_s = max_queue_s
        self.clock = clock
        self._window_start: float | None = None  # None while nothing is queued
        self._done_s = 0.0
        self._saturated = True  # work stayed queued since the window opened

    def queued(self) -> None:
        """Work was added: a window opens if none is."""
        if self._window_start is None:
            self._open(self.clock())

    def finished(self, seconds: float, backlog_s: float) -> None:
        """``seconds`` of expected work are done; ``backlog_s`` is what is left."""
        if self._window_start is None:
            return
        self._done_s += seconds
        self._saturated &= backlog_s >= QUEUED_SHARE * self.max_queue_s * self.rate
        now = self.clock()
        elapsed = now - self._window_start
        idle = backlog_s <= 1e-9
        if elapsed >= WINDOW_S or (idle and elapsed > 0):
            sample = self._done_s / elapsed if self._saturated else self.nominal
            smoothed = (1 - NEW_WEIGHT) * self.rate + NEW_WEIGHT * sample
            self.rate = min(max(smoothed, self.nominal / SPREAD), self.nominal * SPREAD)
            if idle:
                self._window_start = None
            else:
                self._open(now)

    def _open(self, now: float) -> None:
        self._window_start, self._done_s, self._saturated = now, 0.0, True
