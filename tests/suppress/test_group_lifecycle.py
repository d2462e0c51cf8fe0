"""A group's life as a real Alertmanager stack drives it: updates, a NONE member, a changed re-send,
the close, and the audit log's size."""

from __future__ import annotations

import json

from engine.run.execute import Executor
from tests.suppress.conftest import T0, at

GROUPING = """
dedup: {window: 10m}
grouping: {group_by: [service], group_wait: 0s, group_interval: 1m, repeat_interval: 4h}
"""
CRITICAL = {"conditions": {"service_unavailable": True}, "title": "payment-api down"}
QUIET = {"metrics": {"error_rate": 0.0}, "title": "payment-api probe"}


def test_a_group_update_due_after_the_close_is_cancelled(harness):
    h = harness(GROUPING)
    h.send("a0", 0, fingerprint="a", **CRITICAL)
    h.send("b0", 10, fingerprint="b", **CRITICAL)  # attaches: update #1 due at +60 s
    updates = [a for a in h.actions("notify") if a["step"] == 1]
    assert updates and all(a["due_at"] == at(60).replace("Z", ".000Z") for a in updates)
    h.send("a0-ok", 20, fingerprint="a", status="resolved", **CRITICAL)
    h.send("b0-ok", 21, fingerprint="b", status="resolved", **CRITICAL)  # the incident closes
    h.clock.set(T0.replace(minute=30))
    Executor(h.audit, h.compiled.policy).run_pending(now=at(1800))
    rows = h.audit.conn.execute("SELECT a.action, r.outcome, r.detail FROM actions a JOIN results r ON r.action_id = "
                                "a.id WHERE a.kind = 'notify' AND a.step = 1").fetchall()
    assert rows and all(outcome == "cancelled" and detail.startswith("resolved by") for _, outcome, detail in rows)


def test_an_acknowledged_incident_still_gets_its_group_update(harness):
    h = harness(GROUPING)
    h.send("a0", 0, fingerprint="a", **CRITICAL)
    h.send("b0", 10, fingerprint="b", **CRITICAL)
    h.pipeline.process("ack.json", json.dumps({"type": "ack", "event_id": "ack-1", "incident_id": "a0",
                                               "by": "dave", "timestamp": at(15)}).encode())
    Executor(h.audit, h.compiled.policy).run_pending(now=at(1800))
    outcomes = {o for (o,) in h.audit.conn.execute("SELECT r.outcome FROM actions a JOIN results r ON "
                                                   "r.action_id = a.id WHERE a.kind = 'notify' AND a.step = 1")}
    assert outcomes and "cancelled" not in outcomes


def test_a_none_member_keeps_its_own_severity_and_the_update_counts_the_group(harness):
    h = harness(GROUPING)
    h.send("a0", 0, fingerprint="a", **CRITICAL)
    member = h.send("b0", 10, fingerprint="b", **QUIET)
    row = h.audit.conn.execute("SELECT severity, incident_id, fired_rules FROM decisions WHERE event_id = 'b0'"
                               ).fetchone()
    assert row[0] == "NONE" and row[1] == "a0" and json.loads(row[2])[0] == "severity:default"
    updates = [i for i in member.intents if i.kind == "notify"]
    assert updates and {i.severity for i in updates} == {"CRITICAL"}
    assert all("update #1: 2 alerts in incident a0" in (i.message.get("text") or i.message.get("subject") or
                                                        i.message.get("title")) for i in updates)


def _incident_bytes(h, incident_id: str) -> int:
    return h.audit.conn.execute("SELECT coalesce(sum(length(state)), 0) FROM incidents WHERE incident_id = ?",
                                (incident_id,)).fetchone()[0]


def test_incident_rows_grow_linearly_with_the_group(harness):
    sizes = {}
    for n in (200, 400):
        h = harness(GROUPING)
        for i in range(n):
            h.send(f"g{n}-{i}", i * 0.01, fingerprint=f"host-{i:05d}", **CRITICAL)
        sizes[n] = _incident_bytes(h, f"g{n}-0")
    assert sizes[400] < 2.3 * sizes[200], sizes  # quadratic would be ~4x


def test_membership_survives_a_restart(harness):
    h = harness(GROUPING)
    for i in range(3):
        h.send(f"m{i}", i, fingerprint=f"f{i}", **CRITICAL)
    h.restart()
    assert h.pipeline.suppression.incidents["m0"].fingerprints == ["f0", "f1", "f2"]
    h.send("m1-ok", 5, fingerprint="f1", status="resolved", **CRITICAL)
    h.restart()
    assert h.pipeline.suppression.incidents["m0"].fingerprints == ["f0", "f2"]


def _am(value: str) -> bytes:
    return json.dumps({"version": "4", "groupKey": "g", "status": "firing", "alerts": [{
        "status": "firing", "labels": {"alertname": "Errors", "service": "checkout-api", "metric": "error_rate"},
        "annotations": {"summary": "checkout errors", "value": value}, "startsAt": at(0),
        "fingerprint": "am-1"}]}).encode()


def test_a_resend_whose_value_changed_upgrades_the_incident(harness):
    h = harness(GROUPING)
    first = h.pipeline.process("first.json", _am("0.02"))
    assert [d.severity for d in first.decisions] == ["MODERATE"]
    again = h.pipeline.process("again.json", _am("0.02"))  # the same notification once more: a duplicate
    assert again.code == "duplicate"
    changed = h.pipeline.process("changed.json", _am("0.30"))
    (decision,) = changed.decisions
    assert decision.severity == "MAJOR" and decision.incident_id == first.decisions[0].incident_id
    assert decision.suppression["outcome"] == "upgraded"
    assert {i.action for i in decision.intents if i.kind == "page"} >= {"pagerduty"}
