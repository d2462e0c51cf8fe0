"""Helpers for the severity-intelligence tests: paths, event files, a fake model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.decide.classify import ModelState
from engine.model.event import Event

REPO = Path(__file__).resolve().parents[1]
RULES = REPO / "rules"
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


def as_bytes(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc).encode()
