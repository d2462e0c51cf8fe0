"""Fixtures for adapter tests: a fake clock and a recording ``sleep`` for :func:`actions.retry.execute`.
Helpers live in ``adapter_kit.py``; the real threaded HTTP server on 127.0.0.1 is ``make_httpserver``
in tests/conftest.py."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator

import pytest
from adapter_kit import IN_FLIGHT, FakeClock, Sleeps
from pytest_httpserver import HTTPServer


@pytest.fixture(autouse=True)
def _no_late_requests(make_httpserver: HTTPServer) -> Iterator[None]:
    """A simulated timeout leaves its handler sleeping after the client gave up; wait for it and
    drop its log entry so it cannot be counted by the next test."""
    yield
    while IN_FLIGHT:
        IN_FLIGHT.pop().wait(5)
    time.sleep(0.05)  # the server logs the exchange just after the handler returns
    make_httpserver.clear()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sleeps(clock: FakeClock) -> Sleeps:
    return Sleeps(clock)


@pytest.fixture
def rng() -> random.Random:
    return random.Random(7)
