"""``for:``-style persistence: N consecutive events or N seconds before an incident opens."""

from __future__ import annotations

EVENTS = """
persistence:
  - id: three-in-a-row
    min_severity: MODERATE
    max_severity: MODERATE
    for_events: 3
"""
SECONDS = """
persistence:
  - id: two-minutes
    min_severity: MODERATE
    for: 2m
"""


def test_opens_on_the_nth_consecutive_event(harness):
    h = harness(EVENTS)
    a, b = h.send("a", 0, fingerprint="fp"), h.send("b", 10, fingerprint="fp")
    assert [x.suppression["mechanism"] for x in (a, b)] == ["persistence", "persistence"]
    assert "2 of 3" in b.suppression["reason"] and not a.intents and not b.intents
    c = h.send("c", 20, fingerprint="fp")
    assert c.suppression["outcome"] == "new" and c.intents


def test_a_break_in_the_streak_starts_over(harness):
    h = harness(EVENTS)
    h.send("a", 0, fingerprint="fp")
    h.send("b", 10, fingerprint="fp")
    h.send("ok", 15, fingerprint="fp", status="resolved")  # the condition stopped holding
    assert h.send("c", 20, fingerprint="fp").suppression["mechanism"] == "persistence"


def test_more_severe_events_are_not_held(harness):
    h = harness(EVENTS)
    assert h.send("a", 0, fingerprint="fp", conditions={"service_unavailable": True}).suppression["outcome"] == "new"


def test_held_for_seconds_boundary(harness):
    h = harness(SECONDS)
    assert h.send("a", 0, fingerprint="fp").suppression["mechanism"] == "persistence"
    assert h.send("b", 119, fingerprint="fp").suppression["mechanism"] == "persistence"
    assert h.send("c", 120, fingerprint="fp").suppression["outcome"] == "new"


def test_streak_survives_restart(harness):
    h = harness(EVENTS)
    h.send("a", 0, fingerprint="fp")
    h.send("b", 10, fingerprint="fp")
    h.audit.close()
    h.restart()
    assert h.send("c", 20, fingerprint="fp").suppression["outcome"] == "new"
