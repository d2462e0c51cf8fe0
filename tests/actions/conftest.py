"""Fixtures for adapter tests: a real HTTP server on 127.0.0.1 (threaded), a fake clock and a
recording ``sleep`` for :func:`actions.retry.execute`. Helpers live in ``adapter_kit.py``."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator

import pytest
from adapter_kit import IN_FLIGHT, FakeClock, Sleeps
from pytest_httpserver import HTTPServer


@pytest.fixture(scope="session")
def make_httpserver() -> Iterator[HTTPServer]:
    """Overrides pytest_httpserver's server: IPv4 loopback, and threaded so that a handler
    that sleeps (a simulated timeout) does not hold up the client's next attempt."""
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


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
