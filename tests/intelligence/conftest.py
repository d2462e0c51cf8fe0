"""Fixtures for the severity-intelligence tests: the shipped policy compiled, an event factory."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from intel_kit import RULES, event_dict

from engine.compiler.compile import CompiledPolicy, compile_policy
from engine.model.event import Event
from engine.compiler.validate import validate


@pytest.fixture(scope="session")
def compiled() -> CompiledPolicy:
    policy, problems = validate(RULES)
    assert policy is not None, problems
    return compile_policy(policy)


@pytest.fixture
def make_event() -> Callable[..., Event]:
    def _make(event_id: str = "e1", timestamp: str = "2025-03-01T10:00:00Z", **fields: Any) -> Event:
        return Event.model_validate(event_dict(event_id, timestamp, **fields))

    return _make
