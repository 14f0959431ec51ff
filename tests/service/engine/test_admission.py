"""Admission: a bounded wait before inference, a bounded number of waiting requests, each
with a deadline."""

from __future__ import annotations

import asyncio
import warnings

import pytest

from rnn_serve.service.engine import admission as admission_module
from rnn_serve.service.engine.admission import Admission
from rnn_serve.service.errors import InferenceTimeout, Overloaded


def test_past_the_bound_a_request_is_refused_at_once_and_never_started():
    async def scenario() -> None:
        admission = Admission(max_pending=1, timeout_s=5, max_queue_s=10, parallelism=1)
        release = asyncio.Event()
        first = asyncio.create_task(admission.guarded(release.wait()))
        await asyncio.sleep(0)
        assert admission.pending == 1
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # "coroutine was never awaited" would fail here
            with pytest.raises(Overloaded, match="1 requests are already waiting"):
                await admission.guarded(asyncio.sleep(0))
        release.set()
        await first
        assert admission.pending == 0

    asyncio.run(scenario())


def test_past_the_deadline_a_request_gets_a_timeout_and_leaves_the_count():
    async def scenario() -> None:
        admission = Admission(max_pending=4, timeout_s=0.05, max_queue_s=10, parallelism=1)
        with pytest.raises(InferenceTimeout, match=r"longer than 0\.05 s"):
            await admission.guarded(asyncio.sleep(5))
        assert admission.pending == 0

    asyncio.run(scenario())


def test_one_timer_holds_every_deadline_and_moves_to_the_oldest_call_still_running():
    async def scenario() -> None:
        admission = Admission(max_pending=8, timeout_s=0.2, max_queue_s=10, parallelism=1)
        loop = asyncio.get_running_loop()
        quick = asyncio.create_task(admission.guarded(asyncio.sleep(0.05)))
        await asyncio.sleep(0.1)  # the quick call has left; its deadline's timer is still set
        started = loop.time()
        slow = [asyncio.create_task(admission.guarded(asyncio.sleep(5))) for _ in range(3)]
        await asyncio.sleep(0)
        assert admission.deadlines.watch is not None and len(admission.deadlines.inside) == 3
        await quick
        for call in slow:
            with pytest.raises(InferenceTimeout):
                await call
        # at its own deadline, not the quick call's, for which the timer fired first
        assert 0.2 <= loop.time() - started < 1.0
        assert admission.pending == 0 and not admission.deadlines.inside

    asyncio.run(scenario())


def test_deadlines_hold_on_the_next_event_loop_too():
    """A test, or an app started twice, runs the same admission on a new loop: the timer of
    the first one's is gone with it."""
    admission = Admission(max_pending=4, timeout_s=0.05, max_queue_s=10, parallelism=1)

    async def late() -> None:
        with pytest.raises(InferenceTimeout):
            await admission.guarded(asyncio.sleep(5))

    async def quick() -> None:
        await admission.guarded(asyncio.sleep(0))  # leaves the timer set on this loop

    asyncio.run(quick())
    asyncio.run(late())


def test_a_cancellation_from_elsewhere_is_not_taken_for_a_deadline():
    async def scenario() -> None:
        admission = Admission(max_pending=4, timeout_s=5, max_queue_s=10, parallelism=1)
        call = asyncio.create_task(admission.guarded(asyncio.sleep(5)))
        await asyncio.sleep(0.01)
        call.cancel()  # a client gone, a shutdown
        with pytest.raises(asyncio.CancelledError):
            await call
        assert admission.pending == 0 and not admission.deadlines.inside

    asyncio.run(scenario())


def test_a_request_that_would_wait_past_the_bound_is_refused_with_a_retry_after_the_backlog():
    async def scenario() -> None:
        admission = Admission(max_pending=100, timeout_s=5, max_queue_s=1.0, parallelism=2)
        release = asyncio.Event()
        # 3.4 s of work on 2 threads: 1.7 s before a new request would start
        first = asyncio.create_task(admission.guarded(release.wait(), seconds=1.4))
        second = asyncio.create_task(admission.guarded(release.wait(), seconds=2.0))
        await asyncio.sleep(0)
        assert admission.expected_wait_s() == pytest.approx(1.7)
        with pytest.raises(
            Overloaded, match=r"would take 1700 ms .* the bound is 1000 ms"
        ) as error:
            await admission.guarded(asyncio.sleep(0), seconds=0.001)
        assert error.value.headers["Retry-After"] == "2"
        release.set()
        await asyncio.gather(first, second)
        assert admission.backlog_s == pytest.approx(0) and admission.pending == 0
        await admission.guarded(asyncio.sleep(0), seconds=0.5)  # admitted again

    asyncio.run(scenario())


def test_work_that_fails_or_times_out_leaves_the_backlog():
    async def scenario() -> None:
        admission = Admission(max_pending=4, timeout_s=0.05, max_queue_s=1.0, parallelism=1)

        async def fails() -> None:
            raise RuntimeError("inside ONNX Runtime")

        with pytest.raises(RuntimeError):
            await admission.guarded(fails(), seconds=3.0)
        with pytest.raises(InferenceTimeout):
            await admission.guarded(asyncio.sleep(5), seconds=3.0)
        assert admission.backlog_s == 0

    asyncio.run(scenario())


def test_a_request_admitted_on_arrival_is_not_refused_for_work_that_came_after_it():
    async def scenario() -> None:
        admission = Admission(max_pending=1, timeout_s=5, max_queue_s=1.0, parallelism=1)

        async def request() -> str:
            admission.admit(0.5)  # its body's parsing and answer: 0.5 s
            try:
                admission._add(5.0)  # later arrivals' work (as if they had been admitted)
                return await admission.guarded(asyncio.sleep(0, "ran"), seconds=0.1)
            finally:
                admission._done(5.0)
                admission.leave(0.5)

        # each HTTP request is served in a task of its own, as here
        assert await asyncio.create_task(request()) == "ran"
        assert admission.pending == 0 and admission.backlog_s == pytest.approx(0)
        # in another task (another request), the same backlog refuses at arrival...
        admission._add(5.0)

        async def arrives() -> None:
            admission.admit()

        with pytest.raises(Overloaded, match="would take 5000 ms"):
            await asyncio.create_task(arrives())
        # ...and a call that did not come through the front door is checked when it starts
        with pytest.raises(Overloaded):
            await admission.guarded(asyncio.sleep(0), seconds=0.1)

    asyncio.run(scenario())


def test_requests_admitted_on_arrival_count_against_the_bound_on_their_number():
    admission = Admission(max_pending=1, timeout_s=5, max_queue_s=1.0, parallelism=1)
    admission.admit()
    with pytest.raises(Overloaded, match="1 requests are already waiting"):
        admission.check()
    admission.leave()
    admission.check()


def test_a_reservation_refuses_later_reservations_and_is_not_refused_itself():
    async def scenario() -> None:
        admission = Admission(max_pending=100, timeout_s=5, max_queue_s=1.0, parallelism=1)
        reservation = admission.reserve(1.5)  # an announced body told to come: 1.5 s of work
        with pytest.raises(Overloaded, match="would take 1500 ms"):
            admission.reserve(0.1)  # the next one is refused before its body is asked for
        admission.check()  # a client that sends its body at once is not refused for it

        async def arrives() -> None:
            admission.admit(0.2, ("m", 1000), reservation)  # its body is in: admitted

        await asyncio.create_task(arrives())
        assert not reservation.held and admission.reserved_s == 0
        assert admission.backlog_s == pytest.approx(0.2)  # now its own work, as admitted
        admission.leave(0.2)
        reservation.release()  # a second release takes nothing more
        assert admission.expected_wait_s() == pytest.approx(0)

    asyncio.run(scenario())


def test_a_released_reservation_no_longer_counts_and_its_request_is_checked_again():
    async def scenario() -> None:
        admission = Admission(max_pending=100, timeout_s=5, max_queue_s=1.0, parallelism=1)
        reservation = admission.reserve(1.5)
        with pytest.raises(Overloaded):
            admission.reserve(0.1)
        reservation.release()  # its body stopped coming
        admission.reserve(0.1).release()
        admission._add(5.0)
        with pytest.raises(Overloaded):
            admission.admit(0.0, ("m", 1000), reservation)

    asyncio.run(scenario())


def test_a_reservation_lapses_after_its_longest_hold(monkeypatch):
    monkeypatch.setattr(admission_module, "HOLD_S", 0.05)

    async def scenario() -> None:
        admission = Admission(max_pending=100, timeout_s=5, max_queue_s=1.0, parallelism=1)
        reservation = admission.reserve(1.5)  # a body that trickles in, never stalling
        await asyncio.sleep(0.2)
        assert not reservation.held and admission.reserved_s == 0
        admission.reserve(0.1)

    asyncio.run(scenario())


def test_the_inference_per_body_byte_is_learnt_by_model_from_admitted_requests():
    async def scenario() -> None:
        admission = Admission(max_pending=100, timeout_s=5, max_queue_s=10, parallelism=1)

        async def request(model: str, body_bytes: int, seconds: float) -> None:
            admission.admit(0.0, (model, body_bytes))
            try:
                await admission.guarded(asyncio.sleep(0), seconds=seconds)
            finally:
                admission.leave()

        await asyncio.create_task(request("heavy", 1000, 0.5))
        await asyncio.create_task(request("light", 1000, 0.001))
        await asyncio.create_task(request("", 1000, 9.0))  # no model named (gRPC): not learnt
        assert admission.inference_s_per_byte == {
            "heavy": pytest.approx(0.0005),
            "light": pytest.approx(0.000001),
        }
        await asyncio.create_task(request("heavy", 1000, 1.0))
        assert admission.inference_s_per_byte["heavy"] == pytest.approx(0.0006)  # smoothed

    asyncio.run(scenario())
