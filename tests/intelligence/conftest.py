"""Fixtures for the severity-intelligence tests: the shipped policy, event files, a fake model."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from engine.compile import CompiledPolicy, compile_policy
from engine.event import Event
from engine.intelligence import ModelState
from engine.validate import validate

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "rules"


@pytest.fixture(scope="session")
def compiled() -> CompiledPolicy:
    policy, problems = validate(RULES)
    assert policy is not None, problems
    return compile_policy(policy)


class FakeClassifier:
    """Stands in for :class:`engine.classifier.Classifier`: fixed probabilities for every event."""

    def __init__(self, probabilities: dict[str, float], version: str = "fake00000000") -> None:
        self._p = probabilities
        self.version = version

    def probabilities(self, event: Event) -> dict[str, float]:
        return dict(self._p)


def fake_model(label: str, confidence: float) -> ModelState:
    rest = (1.0 - confidence) / 3
    probabilities = {s: rest for s in ("NONE", "MODERATE", "MAJOR", "CRITICAL")}
    probabilities[label] = confidence
    return ModelState(FakeClassifier(probabilities), "fake00000000")  # type: ignore[arg-type]


def event_dict(event_id: str, timestamp: str, service: str = "checkout", **fields: Any) -> dict[str, Any]:
    """Each event is its own alert (own fingerprint), so each decision is its own incident."""
    return {"event_id": event_id, "timestamp": timestamp, "source": "test", "service": service,
            "title": f"test event {event_id}", "fingerprint": f"fp-{event_id}", **fields}


@pytest.fixture
def make_event() -> Callable[..., Event]:
    def _make(event_id: str = "e1", timestamp: str = "2025-03-01T10:00:00Z", **fields: Any) -> Event:
        return Event.model_validate(event_dict(event_id, timestamp, **fields))

    return _make


def as_bytes(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc).encode()
