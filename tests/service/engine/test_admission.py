"""Admission: a bounded number of waiting requests, each with a deadline."""

from __future__ import annotations

import asyncio
import warnings

import pytest

from service.engine.admission import Admission
from service.errors import InferenceTimeout, Overloaded


def test_past_the_bound_a_request_is_refused_at_once_and_never_started():
    async def scenario() -> None:
        admission = Admission(max_pending=1, timeout_s=5)
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
        admission = Admission(max_pending=4, timeout_s=0.05)
        with pytest.raises(InferenceTimeout, match=r"longer than 0\.05 s"):
            await admission.guarded(asyncio.sleep(5))
        assert admission.pending == 0

    asyncio.run(scenario())
