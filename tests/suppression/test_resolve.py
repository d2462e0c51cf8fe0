"""Resolved events close the open incident and request ``resolve`` from the pagers paged."""

from __future__ import annotations

DOWN = {"title": "down", "conditions": {"service_unavailable": True}}


def test_resolved_closes_the_incident_and_resolves_the_pagers(harness):
    h = harness("dedup: {window: 5m}\n")
    h.send("e1", 0, fingerprint="fp", **DOWN)
    paged = {p[1] for p in h.pages("e1")}
    closed = h.send("e2", 60, fingerprint="fp", status="resolved", **DOWN)
    assert closed.incident_id == "e1" and closed.suppression["outcome"] == "closed"
    resolves = {i.action for i in closed.intents if i.kind == "resolve"}
    assert resolves == paged and all(i.incident_id == "e1" for i in closed.intents)
    assert not [i for i in closed.intents if i.kind in ("page", "notify")]
    ops = [r[0] for r in h.audit.conn.execute("SELECT op FROM incidents WHERE incident_id = 'e1' ORDER BY id")]
    assert ops == ["open", "close"]


def test_resolved_for_an_incident_that_never_opened_is_recorded_not_an_error(harness):
    h = harness("dedup: {window: 5m}\n")
    d = h.send("r1", 0, fingerprint="never", status="resolved")
    assert d.intents == [] and d.suppression["outcome"] == "resolved-unknown"
    assert h.suppressions("r1")[0][:2] == ("resolved-unknown", "resolve")


def test_firing_after_close_opens_a_new_incident(harness):
    h = harness("dedup: {window: 5m}\n")
    h.send("e1", 0, fingerprint="fp")
    h.send("e2", 10, fingerprint="fp", status="resolved")
    assert h.send("e3", 20, fingerprint="fp").incident_id == "e3"


def test_group_closes_when_its_last_member_resolves(harness):
    h = harness("grouping: {group_by: [service], group_wait: 0s}\n")
    h.send("a", 0, fingerprint="fa")
    h.send("b", 5, fingerprint="fb")
    first = h.send("ra", 10, fingerprint="fa", status="resolved")
    last = h.send("rb", 20, fingerprint="fb", status="resolved")
    assert first.suppression["outcome"] == "member-resolved" and not first.intents
    assert last.suppression["outcome"] == "closed" and {i.kind for i in last.intents} == {"resolve"}


def test_monitor_resolve_cancels_pending_escalation_steps(harness):
    from engine.escalation import cancellation

    h = harness("dedup: {window: 5m}\n")
    h.send("e1", 0, fingerprint="fp", **DOWN)
    h.send("e2", 60, fingerprint="fp", status="resolved", **DOWN)
    later = h.audit.conn.execute("SELECT id FROM actions WHERE incident_id = 'e1' AND kind = 'page' AND step = 1"
                                 ).fetchall()
    assert later and all("resolved" in (cancellation(h.audit, aid, "page") or "") for (aid,) in later)
