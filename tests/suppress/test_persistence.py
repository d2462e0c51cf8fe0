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


GAP = "dedup: {window: 5m}\n" + EVENTS.replace("    for_events: 3\n", "    for: 10m\n    for_events: 3\n")


def test_a_gap_longer_than_the_dedup_window_restarts_the_streak(harness):
    """``for: 10m`` means the condition held for ten minutes: one event on Monday and one on Friday did not."""
    h = harness(GAP)
    h.send("a", 0, fingerprint="fp")
    blip = h.send("b", 4 * 86400, fingerprint="fp")  # four days later: a single blip
    assert blip.suppression["mechanism"] == "persistence" and "1 of 3" in blip.suppression["reason"]
    h.send("c", 4 * 86400 + 200, fingerprint="fp")
    h.audit.close()
    h.restart()
    assert h.send("d", 4 * 86400 + 400, fingerprint="fp").suppression["outcome"] == "new"  # 3rd in a row


def test_events_within_the_dedup_window_keep_the_streak(harness):
    h = harness(GAP)
    for i, t in enumerate((0, 300, 600)):  # gaps of exactly the window: still consecutive
        d = h.send(f"e{i}", t, fingerprint="fp")
    assert d.suppression["outcome"] == "new"
