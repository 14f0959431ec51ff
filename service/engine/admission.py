"""Admission and deadlines: never an unbounded queue, never an unbounded wait.

A request is admitted by the wait it would have: the work already admitted and not yet done
(inference, and the parsing and answering of large bodies), in seconds as the timings at
start-up expect it, over the pace at which such work is being done (pace.py). Past
``max_queue_s`` it is refused at once, with a Retry-After from that backlog, rather than
answered late. The models of a process share one device and its cores, so there is one
backlog.

A request is admitted once, when it arrives (``admit``): its own inference, known only once
its body is read, is then never refused for the work of requests that came after it. Calls
that did not come through the front door (``guarded`` alone) are checked when they start.

A client that sends ``Expect: 100-continue`` is checked before it is told to send its body,
and holds a ``Reservation`` of the work its announced body is expected to bring (from the
seconds per body byte of the requests admitted so far) until it is admitted: the clients that
wait for 100 Continue meanwhile are refused at once, rather than after uploading bodies that
would then be refused. A body that stops coming gives its reservation up (dispatch.py), and
none is held longer than HOLD_S.
Reservations count only against other reservations: clients that send their bodies at once are
admitted by the work that has arrived, so that announcements that are never kept cannot refuse
them.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

from rnn_serve.service.engine.pace import Pace
from rnn_serve.service.errors import InferenceTimeout, Overloaded

T = TypeVar("T")
# Set in the task that serves an admitted request (each HTTP request has its own task): its
# model and the bytes of its body, which its inference's expected seconds are learnt against.
_admitted: ContextVar[tuple[str, int] | None] = ContextVar("admitted", default=None)
LEARNING = 0.2  # the weight of each admitted request in the learnt seconds per body byte
# The longest a reservation holds: a body sent slowly but steadily counts as arrived work
# no longer than this (a 3.4 MB body takes 0.1 s on loopback, 0.3 s at 100 Mbit/s).
HOLD_S = 2.0


@dataclass(frozen=True, slots=True)
class Admitted:
    """A request admitted with ``seconds`` of work of its own besides its inference; it
    ``leave``s once answered, whatever the answer."""

    admission: Admission
    seconds: float

    def leave(self) -> None:
        self.admission.leave(self.seconds)


class Reservation:
    """Work announced by a client told to send its body, counted against the bound until the
    request is admitted, the reservation is ``release``d, or HOLD_S have passed."""

    __slots__ = ("admission", "expiry", "seconds")

    def __init__(self, admission: Admission, seconds: float) -> None:
        self.admission = admission
        self.seconds = seconds
        self.expiry = asyncio.get_running_loop().call_later(HOLD_S, self.release)

    @property
    def held(self) -> bool:
        return self.seconds > 0

    def release(self) -> None:
        self.expiry.cancel()
        self.admission.reserved_s -= self.seconds
        self.seconds = 0.0


class Admission:
    def __init__(
        self, max_pending: int, timeout_s: float, max_queue_s: float, parallelism: int
    ) -> None:
        self.max_pending = max_pending
        self.timeout_s = timeout_s
        self.max_queue_s = max_queue_s
        self.pace = Pace(parallelism, max_queue_s)
        self.deadlines = Deadlines(timeout_s)
        self.pending = 0  # requests admitted and not yet answered, or calls in inference
        self.backlog_s = 0.0  # the expected seconds of the work admitted and not yet done
        self.reserved_s = 0.0  # the expected seconds of announced bodies (Reservation)
        # by model, learnt from the requests admitted (_learn)
        self.inference_s_per_byte: dict[str, float] = {}

    def admit(
        self,
        seconds: float = 0.0,
        body: tuple[str, int] = ("", 0),
        reservation: Reservation | None = None,
    ) -> None:
        """Admits the request being served (a 503 past the bounds, unless it holds a
        reservation), with ``seconds`` of work of its own besides its inference and a
        ``body`` of (model, bytes); it ``leave``s when answered."""
        if reservation is not None and reservation.held:
            reservation.release()  # its work was counted when it was told to send its body
        else:
            self.check()
        _admitted.set(body)
        self.pending += 1
        self._add(seconds)

    def reserve(self, seconds: float) -> Reservation:
        """Checks a request before its body is asked for, the other reservations counted, and
        reserves ``seconds`` of work for it (expected from the bytes it announced)."""
        self.check(self.reserved_s)
        reservation = Reservation(self, seconds)
        self.reserved_s += seconds
        return reservation

    def leave(self, seconds: float = 0.0) -> None:
        self.pending -= 1
        if seconds:
            self._done(seconds)

    def _add(self, seconds: float) -> None:
        if seconds:
            self.pace.queued()
            self.backlog_s += seconds

    def _done(self, seconds: float) -> None:
        self.backlog_s -= seconds
        self.pace.finished(seconds, self.backlog_s)

    def expected_wait_s(self, reserved_s: float = 0.0) -> float:
        return (self.backlog_s + reserved_s) / self.pace.rate

    def _learn(self, seconds: float, model: str, body_bytes: int) -> None:
        per_byte = seconds / body_bytes
        known = self.inference_s_per_byte.get(model)
        learnt = per_byte if known is None else known + LEARNING * (per_byte - known)
        self.inference_s_per_byte[model] = learnt

    def check(self, reserved_s: float = 0.0) -> None:
        """A 503 now when a request arriving now would wait past the bound, with
        ``reserved_s`` of announced work beside what was admitted."""
        wait = self.expected_wait_s(reserved_s)
        if wait > self.max_queue_s:
            raise Overloaded(
                f"overloaded: the work already queued would take {wait * 1000:.0f} ms before "
                f"this request ran, the bound is {self.max_queue_s * 1000:.0f} ms",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )
        if self.pending >= self.max_pending:
            raise Overloaded(
                f"overloaded: {self.max_pending} requests are already waiting for inference"
            )

    async def guarded(self, inference: Awaitable[T], seconds: float = 0.0) -> T:
        """Runs ``inference`` (expected to take ``seconds``), a 504 past ``timeout_s``. Unless
        its request was admitted, it is checked first (a 503 when the wait before it or the
        number waiting is past its bound) and counted while it runs."""
        body = _admitted.get()
        admitted = body is not None
        if body is not None and body[0] and body[1] and seconds:  # to a named model (HTTP)
            self._learn(seconds, *body)
        if not admitted:
            try:
                self.check()
            except Overloaded:
                close = getattr(inference, "close", None)
                if close is not None:
                    close()  # never started: no "coroutine was never awaited" warning
                raise
            self.pending += 1
        self._add(seconds)
        task = self.deadlines.enter()
        try:
            return await inference
        except asyncio.CancelledError:
            if self.deadlines.expired(task):
                raise InferenceTimeout(f"inference took longer than {self.timeout_s:g} s") from None
            raise
        finally:
            self.deadlines.leave(task)
            if not admitted:
                self.pending -= 1
            if seconds:
                self._done(seconds)


class Deadlines:
    """Cancels the tasks still running ``timeout_s`` after they entered, with one timer for
    them all: ``asyncio.timeout`` sets and cancels one per call (17 us a request on a slow
    core, measured). Every deadline is its entry plus the same ``timeout_s``, so the oldest
    task inside is the first due; the timer is set for it, and when it fires for a task that
    has left, it is set again for the oldest still inside."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.inside: dict[asyncio.Task[Any], float] = {}  # when each entered, oldest first
        self.cancelled: set[asyncio.Task[Any]] = set()  # by the timer, not yet left
        self.watch: asyncio.TimerHandle | None = None
        self.loop: asyncio.AbstractEventLoop | None = None  # the watch's

    def enter(self) -> asyncio.Task[Any]:
        task = asyncio.current_task()
        assert task is not None, "guarded runs in a task"
        loop = task.get_loop()
        self.inside[task] = now = loop.time()
        if self.watch is None or self.loop is not loop:  # none yet, or on a loop now gone
            self.watch, self.loop = loop.call_at(now + self.timeout_s, self._check, loop), loop
        return task

    def expired(self, task: asyncio.Task[Any]) -> bool:
        """Whether ``task``'s CancelledError is its deadline's alone (then it is cancelled no
        more), not a cancellation from elsewhere, such as a shutdown."""
        return task in self.cancelled and task.uncancel() == 0

    def leave(self, task: asyncio.Task[Any]) -> None:
        self.inside.pop(task, None)
        self.cancelled.discard(task)

    def _check(self, loop: asyncio.AbstractEventLoop) -> None:
        self.watch = None
        now = loop.time()
        while self.inside:
            task, entered = next(iter(self.inside.items()))
            if entered + self.timeout_s > now:
                self.watch = loop.call_at(entered + self.timeout_s, self._check, loop)
                return
            del self.inside[task]
            self.cancelled.add(task)
            task.cancel()
