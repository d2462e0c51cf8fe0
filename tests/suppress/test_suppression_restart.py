"""A restart rebuilds exactly the state the stage had, although repeats and attaches write partial rows
and trackers are written only when they change."""

from __future__ import annotations

import json
from typing import Any

from engine.decide import Decider
from engine.intake import parse
from engine.model.event import event_document
from engine.suppress.incidents import shallow
from engine.suppress.ports import FULL_EVERY
from engine.suppress.verdict import event_doc

ALL = """
dedup: {window: 10m}
grouping:
  group_by: [service]
  group_wait: 30s
  group_interval: 1m
  repeat_interval: 5m
flap:
  window: 10m
  max_transitions: 3
  hold_down: 15m
persistence:
  - id: three-in-a-row
    match: ['labels.alertname="Disk"']
    min_severity: MODERATE
    max_severity: MODERATE
    for_events: 3
"""
DOWN = {"conditions": {"service_unavailable": True}}


def state(h: Any) -> dict[str, Any]:
    stage = h.pipeline.suppression
    return {"incidents": [(i, shallow(inc)) for i, inc in stage.incidents.items()],  # order matters (inhibit)
            "by_fp": stage.by_fp, "by_group": stage.by_group,
            "trackers": {fp: shallow(t) for fp, t in stage.trackers.items()}}


def test_restart_rebuilds_identical_state_after_repeats_attaches_updates_and_resolves(harness):
    h = harness(ALL)
    h.send("a0", 0, fingerprint="a")
    for i in range(1, 2 * FULL_EVERY + 5):  # repeats: partial rows, and a full one every FULL_EVERY
        h.send(f"a{i}", i * 0.5, fingerprint="a")
    h.send("b0", 150, fingerprint="b")  # attach after group_wait: a group update
    h.send("b1", 151.25, fingerprint="b")  # a repeat of the member
    h.send("c0", 160, fingerprint="c", **DOWN)  # a more severe member: upgrade
    h.send("b2", 170, fingerprint="b", status="resolved")  # member resolved
    h.send("x0", 200, service="search-api", fingerprint="x")  # another group
    h.send("x1", 400.125, service="search-api", fingerprint="x")  # repeat after repeat_interval: an update
    h.send("d0", 210, service="disk-api", fingerprint="d", labels={"alertname": "Disk"})  # persistence streak
    h.send("d1", 220, service="disk-api", fingerprint="d", labels={"alertname": "Disk"})
    before = state(h)
    assert before["incidents"][0][1]["repeats"] == 2 * FULL_EVERY + 5
    h.restart()
    assert state(h) == before
    # the next events are decided as without the restart
    assert h.send("a-next", 500, fingerprint="a").suppression["reason"].startswith(f"repeat #{2 * FULL_EVERY + 6} ")
    assert h.send("d2", 230, service="disk-api", fingerprint="d", labels={"alertname": "Disk"}).suppression[
        "outcome"] == "new"


def test_repeat_and_attach_rows_carry_only_what_changed(harness):
    h = harness(ALL)
    h.send("a0", 0, fingerprint="a")
    for i in range(1, FULL_EVERY + 1):
        h.send(f"a{i}", i, fingerprint="a")
    h.send("b0", FULL_EVERY + 0.5, fingerprint="b")  # an attach that also sends a group update
    rows = h.audit.conn.execute("SELECT op, state FROM incidents WHERE incident_id = 'a0' ORDER BY id").fetchall()
    ops = [op for op, _ in rows]
    assert ops == ["open"] + ["repeat"] * FULL_EVERY + ["attached"]
    states = [json.loads(s) for _, s in rows]
    full = [i for i, s in enumerate(states) if "incident_id" in s]
    assert full == [0, FULL_EVERY - 1]  # the open, and the repeat that made repeats + members = FULL_EVERY
    assert states[1] == {"last_at": states[0]["opened_at"] + 1, "repeats": 1}
    t = states[0]["opened_at"] + FULL_EVERY + 0.5
    assert states[-1] == {"last_at": t, "members": 2, "updates": 1, "notified_at": t, "update_due": t}
    members = h.audit.conn.execute("SELECT fingerprint, op FROM incident_members WHERE incident_id = 'a0' "
                                   "ORDER BY id").fetchall()
    assert members == [("a", "join"), ("b", "join")]  # the membership, once per change


def test_tracker_rows_only_when_the_tracker_changes(harness):
    h = harness(ALL)

    def rows(fp: str) -> list[dict[str, Any]]:
        return [json.loads(s) for (s,) in h.audit.conn.execute(
            "SELECT state FROM suppress_state WHERE key = ? ORDER BY id", (fp,))]

    for i in range(5):
        h.send(f"a{i}", i, fingerprint="a")
    assert [r["last_status"] for r in rows("a")] == ["firing"]  # flap is on, yet one row for five events
    h.send("a-ok", 10, fingerprint="a", status="resolved")
    assert [(r["last_status"], r["changes"]) for r in rows("a")] == [("firing", []), ("resolved", [h_time(h, 10)])]
    h.send("a-ok2", 11, fingerprint="a", status="resolved")
    assert len(rows("a")) == 2
    for i in range(3):  # a persistence streak changes the tracker on every event
        h.send(f"d{i}", 20 + i, service="disk-api", fingerprint="d", labels={"alertname": "Disk"})
    assert [r["streak"] for r in rows("d")] == [1, 2, 3]


def h_time(h: Any, seconds: float) -> float:
    from tests.suppress.conftest import T0

    return T0.timestamp() + seconds


def test_a_resolve_resets_the_persistence_streak_across_a_restart_too(harness):
    outcomes = []
    for restart in (False, True):
        h = harness(ALL)
        for i in range(2):
            h.send(f"d{i}", i, service="disk-api", fingerprint="d", labels={"alertname": "Disk"})
        h.send("d-ok", 5, service="disk-api", fingerprint="d", labels={"alertname": "Disk"}, status="resolved")
        if restart:
            h.restart()
        d = h.send("d2", 10, service="disk-api", fingerprint="d", labels={"alertname": "Disk"})
        outcomes.append((d.suppression["mechanism"], d.suppression["reason"]))
    assert outcomes[0] == outcomes[1] and outcomes[0][0] == "persistence" and "1 of 3" in outcomes[0][1]


def test_inhibit_names_the_first_open_source_even_after_a_later_one_is_upgraded(harness):
    h = harness("""
dedup: {window: 10m}
inhibit:
  - id: crit-mutes-noise
    source: ['severity="CRITICAL"']
    target: ['labels.kind="noise"']
    equal: [service]
""")
    noise = {"labels": {"kind": "noise"}}
    h.send("first", 0, fingerprint="one")  # MODERATE
    h.send("second", 1, fingerprint="two", **DOWN)  # CRITICAL
    assert h.send("first-up", 2, fingerprint="one", **DOWN).suppression["outcome"] == "upgraded"
    muted = h.send("m", 3, fingerprint="three", **noise)  # both are CRITICAL sources now: the first opened is named
    assert muted.suppression["mechanism"] == "inhibit" and "incident first " in muted.suppression["reason"]
    h.send("first-ok", 4, fingerprint="one", status="resolved", **DOWN)
    assert "incident second " in h.send("m2", 5, fingerprint="four", **noise).suppression["reason"]
    assert h.send("m3", 6, service="search-api", fingerprint="five", **noise).suppression["outcome"] == "new"
    h.send("second-ok", 7, fingerprint="two", status="resolved", **DOWN)
    assert h.send("m4", 8, fingerprint="six", **noise).suppression["outcome"] == "new"


def test_fusion_sees_the_event_document_without_the_deciders_additions(harness):
    h = harness("dedup: {window: 5m}\n")
    decider = Decider(h.compiled, history=h.pipeline.decider.history)  # the shipped model: adds model.*
    raw = {"event_id": "e", "timestamp": "2025-01-06T10:00:00Z", "service": "checkout-api", "source": "test",
           "title": "slow", "metrics": {"latency_p99_ms": 900}, "logs": [{"level": "error", "message": "x",
                                                                            "count": 60}]}
    (event,) = parse(json.dumps(raw).encode())
    decision = decider.decide(event)
    assert {"model", "history"} <= set(decision.event_doc)
    assert event_doc(decision) == event_document(event)
