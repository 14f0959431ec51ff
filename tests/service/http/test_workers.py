"""The worker processes: work that holds the interpreter lock runs beside the event loop, its
errors come back whole, and a worker that dies loses no call."""

from __future__ import annotations

import asyncio
import os
import pickle

import pytest

from rnn_serve.service.errors import InvalidInput, Overloaded
from rnn_serve.service.http.workers import BodyWorkers


def pid_of_caller() -> int:
    return os.getpid()


def refuse(message: str) -> None:
    raise InvalidInput(message, loc=["body", "inputs", 3], kind="finite")


def die_in_a_worker(parent: int) -> int:
    if os.getpid() != parent:
        os._exit(1)  # as if killed for memory
    return os.getpid()


@pytest.fixture
def workers():
    pool = BodyWorkers(1)
    yield pool
    pool.shutdown()


def test_calls_run_in_another_process(workers):
    assert asyncio.run(workers.run(pid_of_caller)) != os.getpid()


def test_errors_come_back_with_their_details_and_headers(workers):
    with pytest.raises(InvalidInput) as raised:
        asyncio.run(workers.run(refuse, "inputs[3] is not finite"))
    assert raised.value.message == "inputs[3] is not finite"
    assert raised.value.details == [
        {"loc": ["body", "inputs", 3], "msg": "inputs[3] is not finite", "type": "finite"}
    ]
    overloaded = pickle.loads(pickle.dumps(Overloaded("busy", headers={"Retry-After": "3"})))
    assert overloaded.headers == {"Retry-After": "3"} and str(overloaded) == "busy"


def test_a_worker_that_dies_loses_no_call_and_the_pool_starts_again(workers, caplog):
    broken = workers.executor
    # the call runs again on a thread, in this process
    assert asyncio.run(workers.run(die_in_a_worker, os.getpid())) == os.getpid()
    assert "a worker process died" in caplog.text
    assert workers.executor is not broken
    assert asyncio.run(workers.run(pid_of_caller)) != os.getpid()


def test_without_workers_calls_run_on_a_thread():
    pool = BodyWorkers(0)
    assert pool.executor is None
    assert asyncio.run(pool.run(pid_of_caller)) == os.getpid()
