"""Dynamic batching: concurrent predictions for one model become one ONNX Runtime call.

Requests queue up; a drain task takes everything waiting that has the same number of steps
(up to ``max_sequences`` rows), concatenates it along the batch axis, runs it once and hands
each caller its rows. With no delay configured it adds no wait: requests whose bytes have
already arrived join before a batch runs, and whatever arrives while it runs forms the next.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from rnn_serve.service import tracing

Array = NDArray[np.float32]
RunFn = Callable[[Array, Array | None], Awaitable[tuple[Array, Array]]]


@dataclass(slots=True)
class _Pending:
    inputs: Array
    state: Array | None  # None: zeros
    future: asyncio.Future[tuple[Array, Array]]
    queued_ns: int = 0  # with tracing on: when it queued, and when its batch ran and ended
    ran_ns: int = 0
    done_ns: int = 0
    batch: int = 0  # requests in its batch
    device: str = ""  # where its batch ran


class Batcher:
    def __init__(
        self,
        run: RunFn,
        zero_state: Callable[[int], Array],
        max_sequences: int,
        max_delay_us: int,
        max_concurrent: int = 1,
        on_batch: Callable[[int], None] | None = None,
        device_for: Callable[[int, int], str] = lambda rows, steps: "",
    ) -> None:
        self.run = run
        self.zero_state = zero_state
        self.max_sequences = max_sequences
        self.max_delay = max_delay_us / 1e6
        self.max_concurrent = max_concurrent
        self.queue: deque[_Pending] = deque()
        self.rows_waiting = 0  # the rows of the requests in the queue
        self.draining = 0
        self.on_batch = on_batch
        self.device_for = device_for  # the device a (rows, steps) call goes to, for traces
        # The loop keeps only weak references to tasks: without these, a drain task could be
        # collected mid-run and leave its requests waiting forever.
        self._drains: set[asyncio.Task[None]] = set()

    async def submit(self, inputs: Array, state: Array | None) -> tuple[Array, Array]:
        loop = asyncio.get_running_loop()  # a getpid() call each time, in CPython's asyncio
        future: asyncio.Future[tuple[Array, Array]] = loop.create_future()
        pending = _Pending(inputs, state, future, tracing.now_ns())
        self.queue.append(pending)
        self.rows_waiting += len(inputs)
        if self.draining < self.max_concurrent:
            self.draining += 1
            drain = loop.create_task(self._drain())
            self._drains.add(drain)
            drain.add_done_callback(self._drains.discard)
        try:
            return await future
        finally:
            if pending.ran_ns:  # on this request's trace: the drain task runs on another's
                tracing.record("batch wait", pending.queued_ns, pending.ran_ns)
                rows, steps = inputs.shape[:2]
                tracing.record(
                    "inference",
                    pending.ran_ns,
                    pending.done_ns,
                    batch_requests=pending.batch,
                    rows=rows,
                    steps=steps,
                    device=pending.device,
                )

    async def _drain(self) -> None:
        try:
            while self.queue:
                if self.max_delay and self.rows_waiting < self.max_sequences:
                    await asyncio.sleep(self.max_delay)
                await self._let_arrived_requests_queue()
                await self._run(self._take())
        finally:
            self.draining -= 1

    async def _let_arrived_requests_queue(self) -> None:
        """Give the event loop turns, as long as each one queues more requests: those whose
        bytes have already arrived join this batch. No timer, no wait for requests not yet
        sent; at concurrency 8 on one core this doubles the batch (see the README)."""
        queued = -1
        while queued < len(self.queue) and self.rows_waiting < self.max_sequences:
            queued = len(self.queue)
            await asyncio.sleep(0)

    def _take(self) -> list[_Pending]:
        """The oldest request and every later one with its step count, up to the row limit;
        the rest keep their order in the queue."""
        steps = self.queue[0].inputs.shape[1]
        batch: list[_Pending] = []
        rest: deque[_Pending] = deque()
        rows = 0
        while self.queue:
            pending = self.queue.popleft()
            fits = rows == 0 or rows + len(pending.inputs) <= self.max_sequences
            if pending.inputs.shape[1] == steps and fits:
                batch.append(pending)
                rows += len(pending.inputs)
            else:
                rest.append(pending)
        self.queue = rest
        self.rows_waiting -= rows
        return batch

    async def _run(self, batch: list[_Pending]) -> None:
        live = [p for p in batch if not p.future.cancelled()]
        if not live:
            return
        if self.on_batch is not None:
            self.on_batch(len(live))
        ran, steps = tracing.now_ns(), live[0].inputs.shape[1]
        try:
            if len(live) == 1:
                results = [await self.run(live[0].inputs, live[0].state)]
            else:
                outputs, final = await self.run(
                    np.concatenate([p.inputs for p in live]), self._states(live)
                )
                results, start = [], 0
                for pending in live:
                    end = start + len(pending.inputs)
                    results.append((outputs[start:end], final[start:end]))
                    start = end
        except Exception as error:  # one failed call fails every request in it, loudly
            for pending in live:
                if not pending.future.done():
                    pending.future.set_exception(error)
            return
        done = tracing.now_ns()
        device = self.device_for(sum(len(p.inputs) for p in live), steps) if tracing.ON else ""
        for pending, result in zip(live, results, strict=True):
            pending.ran_ns, pending.done_ns, pending.batch = ran, done, len(live)
            pending.device = device
            if not pending.future.done():
                pending.future.set_result(result)

    def _states(self, live: list[_Pending]) -> Array | None:
        if all(p.state is None for p in live):
            return None  # the predictor starts every row from zeros
        return np.concatenate(
            [self.zero_state(len(p.inputs)) if p.state is None else p.state for p in live]
        )
