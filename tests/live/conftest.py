"""The real server: a fresh one for a test, or one for the session's tests that only read
from it. Every test under tests/live/ talks to real processes over 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.servers import Server


@pytest.fixture
def server() -> Iterator[Server]:
    with Server() as running:
        yield running


@pytest.fixture(scope="session")
def shared_server() -> Iterator[Server]:
    """One real server for the tests that only read from it."""
    with Server() as running:
        yield running
