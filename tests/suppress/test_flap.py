"""Flap detection: more than K status changes within the window → hold-down."""

from __future__ import annotations

CONFIG = """
flap:
  window: 10m
  max_transitions: 3
  hold_down: 15m
"""
DOWN = {"title": "down", "conditions": {"service_unavailable": True}}


def _flip(h, n, start=0, gap=60):
    out = []
    for i in range(n):
        status = "firing" if i % 2 == 0 else "resolved"
        out.append(h.send(f"e{start + i}", start + i * gap, fingerprint="fp", status=status))
    return out


def test_flapping_fingerprint_is_held_down(harness):
    h = harness(CONFIG)
    d = _flip(h, 6)  # changes at +60, +120, +180 (3 = allowed), +240 (4th: flapping)
    assert [x.suppression["outcome"] for x in d[:4]] == ["new", "closed", "new", "closed"]
    assert d[4].suppression["mechanism"] == "flap" and d[5].suppression["mechanism"] == "flap"
    assert "held down until" in d[4].suppression["reason"]
    assert {p[0] for p in h.pages()} == {"e0", "e2"}


def test_hold_down_ends(harness):
    h = harness(CONFIG)
    _flip(h, 5)  # hold-down from +240 to +1140
    assert h.send("late", 1139, fingerprint="fp").suppression["mechanism"] == "flap"
    assert h.send("later", 1141, fingerprint="fp").suppression["outcome"] == "new"


def test_slow_changes_are_not_flapping(harness):
    h = harness(CONFIG)
    d = _flip(h, 6, gap=400)  # at most 2 changes in any 10-minute window
    assert all(x.suppression["mechanism"] != "flap" for x in d)


def test_resolve_during_hold_down_still_closes_the_open_incident(harness):
    """The hold-down mutes pages; it must not keep an incident open after its alert cleared (its pending
    escalation step would page the backup for a resolved alert, and the pager would stay triggered)."""
    from engine.run.acknowledge import cancellation

    h = harness(CONFIG)
    h.send("r0", 0, fingerprint="fp", status="resolved")
    h.send("e1", 60, fingerprint="fp")  # change 1: new incident
    h.send("r2", 120, fingerprint="fp", status="resolved")  # change 2: closed
    opened = h.send("e3", 180, fingerprint="fp", **DOWN)  # change 3 (allowed): new incident, paged
    assert opened.suppression["outcome"] == "new" and {p[0] for p in h.pages()} == {"e1", "e3"}
    closing = h.send("r4", 240, fingerprint="fp", status="resolved", **DOWN)  # change 4: flapping from now on
    assert closing.suppression["outcome"] == "closed" and closing.incident_id == "e3"
    assert {i.kind for i in closing.intents} == {"resolve"}
    backup = h.audit.conn.execute("SELECT id FROM actions WHERE incident_id = 'e3' AND kind = 'page' AND step = 1"
                                  ).fetchall()
    assert backup and all("resolved" in (cancellation(h.audit, aid, "page") or "") for (aid,) in backup)
    assert h.send("e5", 300, fingerprint="fp").suppression["mechanism"] == "flap"  # re-firing is held down
    assert h.send("r6", 360, fingerprint="fp", status="resolved").suppression["mechanism"] == "flap"


def test_resolve_in_hold_down_closes_after_restart_too(harness):
    h = harness(CONFIG.replace("max_transitions: 3", "max_transitions: 4"))
    _flip(h, 5)  # 4 changes (+60..+240): allowed; e4 (+240) opens an incident
    h.audit.close()
    h.restart()
    closing = h.send("e5", 300, fingerprint="fp", status="resolved")  # 5th change: flapping, but it closes e4
    assert closing.suppression["outcome"] == "closed" and closing.incident_id == "e4"
    assert h.send("e6", 310, fingerprint="fp").suppression["mechanism"] == "flap"  # re-firing is held down
