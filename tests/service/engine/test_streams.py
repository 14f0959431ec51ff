"""InOrder: a stream's calls answered one at a time, in order, within the client's credits."""

from __future__ import annotations

import asyncio

import pytest

from rnn_serve.service.engine import InOrder, Overrun
from rnn_serve.service.errors import InvalidInput, ServeError


async def doubled(call: int) -> int:
    await asyncio.sleep(0.001 * (5 - call % 5))  # later calls finish sooner, if run together
    if call < 0:
        raise InvalidInput(f"{call} is negative")
    return 2 * call


def test_answers_come_in_the_order_of_the_calls_and_an_error_is_an_answer():
    async def run() -> list[tuple[int, int | ServeError]]:
        calls: InOrder[int, int] = InOrder(doubled, 8)
        for call in (1, 2, -3, 4):
            calls.offer(call)
        calls.end()
        return [answer async for answer in calls.answers()]

    answers = asyncio.run(run())
    assert [call for call, _ in answers] == [1, 2, -3, 4]
    assert [answers[i][1] for i in (0, 1, 3)] == [2, 4, 8]
    assert isinstance(answers[2][1], InvalidInput)


def test_offer_refuses_past_the_credits_and_an_answer_gives_one_back():
    async def run() -> None:
        calls: InOrder[int, int] = InOrder(doubled, 2)
        calls.offer(1)
        calls.offer(2)
        with pytest.raises(Overrun, match="more than 2"):
            calls.offer(3)
        answers = calls.answers()
        assert await anext(answers) == (1, 2)
        await anext(answers)  # the first answer was taken: its credit is back...
        calls.offer(3)  # ...so this one fits
        calls.end()
        assert [answer async for answer in answers] == [(3, 6)]

    asyncio.run(run())


def test_put_waits_for_a_credit():
    async def run() -> list[int]:
        calls: InOrder[int, int] = InOrder(doubled, 1)
        await calls.put(1)
        waiting = asyncio.create_task(calls.put(2))
        await asyncio.sleep(0.01)
        assert not waiting.done()  # no credit until the first answer is taken
        answers = calls.answers()
        first = await anext(answers)
        second = asyncio.create_task(anext(answers))  # taking the first gives its credit back
        await waiting
        calls.end()
        return [first[1], (await second)[1]]

    assert asyncio.run(run()) == [2, 4]
