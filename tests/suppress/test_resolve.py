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
    from engine.run.acknowledge import cancellation

    h = harness("dedup: {window: 5m}\n")
    h.send("e1", 0, fingerprint="fp", **DOWN)
    h.send("e2", 60, fingerprint="fp", status="resolved", **DOWN)
    later = h.audit.conn.execute("SELECT id FROM actions WHERE incident_id = 'e1' AND kind = 'page' AND step = 1"
                                 ).fetchall()
    assert later and all("resolved" in (cancellation(h.audit, aid, "page") or "") for (aid,) in later)


def test_a_resolve_delivered_after_a_later_firing_does_not_close(harness):
    """Out of order: firing +0, firing +120, then the resolve of +60 arrives. The alert fires as of +120:
    the incident stays open (no escalation cancelled, no second page for the same alert at +180)."""
    h = harness("dedup: {window: 5m}\n")
    h.send("f1", 0, fingerprint="fp", **DOWN)
    h.send("f2", 120, fingerprint="fp", **DOWN)
    stale = h.send("r-old", 60, fingerprint="fp", status="resolved", **DOWN)
    assert stale.suppression["outcome"] == "suppressed" and "stale resolve" in stale.suppression["reason"]
    assert stale.intents == [] and h.audit.count("incident_updates") == 0
    h.audit.close()
    h.restart()
    assert h.send("f3", 180, fingerprint="fp", **DOWN).suppression["outcome"] == "repeat"
    assert {p[0] for p in h.pages()} == {"f1"}
    assert h.send("r", 200, fingerprint="fp", status="resolved", **DOWN).suppression["outcome"] == "closed"


def _operator_resolve(h, incident_id, seconds, source="manual", code=""):
    import json

    from tests.suppress.conftest import at

    body = {"type": "resolve", "event_id": f"res-{incident_id}", "incident_id": incident_id, "by": "alice@company.com",
            "timestamp": at(seconds), "source": source}
    result = h.pipeline.process("resolve.json", json.dumps(body).encode())
    assert (result.ok, result.code) == (not code, code), result.reason


def test_an_operator_resolve_closes_the_incident_so_a_new_firing_pages(harness):
    """Resolved by hand (or in PagerDuty) while the alert still fires: the next firing is a new incident and
    pages, as PagerDuty does for a new trigger after a resolve; it is not a silent repeat of a closed one."""
    h = harness("dedup: {window: 5m}\n")
    h.send("f1", 0, fingerprint="fp", **DOWN)
    _operator_resolve(h, "f1", 60, source="pagerduty")
    again = h.send("f2", 120, fingerprint="fp", **DOWN)
    assert again.incident_id == "f2" and again.suppression["outcome"] == "new" and again.intents
    assert {p[0] for p in h.pages()} == {"f1", "f2"}
    ops = [r[0] for r in h.audit.conn.execute("SELECT op FROM incidents WHERE incident_id = 'f1' ORDER BY id")]
    assert ops == ["open", "close"]
    h.audit.close()
    h.restart()
    assert h.send("f3", 180, fingerprint="fp", **DOWN).incident_id == "f2"


def test_an_operator_resolve_of_an_unknown_or_closed_incident_changes_nothing(harness):
    h = harness("dedup: {window: 5m}\n")
    h.send("f1", 0, fingerprint="fp")
    h.send("r1", 10, fingerprint="fp", status="resolved")
    _operator_resolve(h, "f1", 20)
    _operator_resolve(h, "nope", 20, code="unmatched-ack")  # names no incident: refused, counted, logged
    assert h.send("f2", 30, fingerprint="fp").incident_id == "f2"
