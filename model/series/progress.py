"""The progress bar of ``rnn-serve train``: one line per candidate, redrawn each epoch on a
terminal, printed once when it ends otherwise (logs stay readable)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

WIDTH = 24


class Progress:
    def __init__(self, total: int, epochs: int, stream: TextIO | None = None) -> None:
        self.total, self.epochs = total, epochs
        self.stream = stream or sys.stderr  # looked up now: it may have been replaced
        self.done = 0
        self.live = self.stream.isatty()
        self.started = time.perf_counter()

    def __call__(self, label: str, epoch: int, loss: float | None) -> None:
        finished = loss is None  # a finished run is reported without a loss
        if finished:
            self.done += 1
        elif not self.live:
            return
        position = self.done if finished else self.done + epoch / self.epochs
        bar = "#" * round(position / self.total * WIDTH)
        number = self.done if finished else self.done + 1
        line = (
            f"[{bar:<{WIDTH}}] {number}/{self.total} {label}: epoch {epoch}, "
            f"{time.perf_counter() - self.started:.0f} s"
        )
        self.stream.write(("\r\033[K" if self.live else "") + line + ("\n" if finished else ""))
        self.stream.flush()
