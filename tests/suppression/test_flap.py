"""Flap detection: more than K status changes within the window → hold-down."""

from __future__ import annotations

CONFIG = """
flap:
  window: 10m
  max_transitions: 3
  hold_down: 15m
"""


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
