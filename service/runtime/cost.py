"""How long an inference will take, measured per model at start-up.

An RNN's time is linear in its steps, and each step costs a fixed part (the per-step work of
ONNX Runtime's loop, whatever the batch) plus a part per sequence in the batch. Two timed runs,
one sequence and many, fit both. The data plane uses the estimate to run small inferences on
the event loop, where they cost less than the hop to an inference thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Run = Callable[[NDArray[np.float32]], object]
PROBE_STEPS, PROBE_ROWS = 16, 16
# Batch sizes at which the two graphs of a model are compared; measuring a larger one would
# cost seconds of start-up for the widest models.
CROSSOVER_ROWS = (2, 4, 16, 64)
# The batched graph costs more a call and less a step than the operator's, so the rows from
# which it is faster fall as calls grow longer: they are measured for short calls (at
# SHORT_PROBE_STEPS) and for calls of LONG_STEPS steps or more (at LONG_PROBE_STEPS, 8 rows
# too). For the co2 model on one core, 8 rows at 8 steps tie (109 us against 110), and at one
# step the operator is faster (66 against 83: a forecast's roll-out); at 48 steps the batched
# graph takes 234 us against 352, and 4 rows 199 against 320.
SHORT_PROBE_STEPS, LONG_STEPS, LONG_PROBE_STEPS = PROBE_STEPS // 2, 24, 64
LONG_CROSSOVER_ROWS = (2, 4, 8, 16, 64)


@dataclass(frozen=True)
class CostModel:
    seconds_per_step: float
    seconds_per_row_step: float

    def seconds(self, rows: int, steps: int) -> float:
        return steps * (self.seconds_per_step + rows * self.seconds_per_row_step)

    @classmethod
    def measure(cls, run: Run, features: int, repeats: int = 3) -> CostModel:
        """The best of ``repeats`` timed runs at one sequence and at PROBE_ROWS of them."""
        one = _best_time(run, np.zeros((1, PROBE_STEPS, features), np.float32), repeats)
        many = _best_time(run, np.zeros((PROBE_ROWS, PROBE_STEPS, features), np.float32), repeats)
        per_row_step = max(many - one, 0.0) / ((PROBE_ROWS - 1) * PROBE_STEPS)
        per_step = max(one / PROBE_STEPS - per_row_step, 0.0)
        return cls(per_step, per_row_step)


def crossover(
    single: Run,
    batched: Run,
    features: int,
    steps: int = SHORT_PROBE_STEPS,
    sizes: tuple[int, ...] = CROSSOVER_ROWS,
    repeats: int = 3,
) -> int | None:
    """The smallest of ``sizes`` from which ``batched`` is faster than ``single`` at every
    larger one too, for calls of ``steps``; None when it is not faster even at the largest."""
    found = None
    for rows in reversed(sizes):
        inputs = np.zeros((rows, steps, features), np.float32)
        if _best_time(batched, inputs, repeats) >= _best_time(single, inputs, repeats):
            break
        found = rows
    return found


def _best_time(run: Run, inputs: NDArray[np.float32], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        run(inputs)
        best = min(best, time.perf_counter() - started)
    return best
