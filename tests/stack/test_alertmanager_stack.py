"""End to end through real peers: Prometheus scrapes a target and evaluates alert rules, Alertmanager
groups and sends them to `rules run --listen` with a bearer token, and the daemon pages stand-in vendors.

What must hold whatever the timing: nothing Prometheus fired is lost (every alert is a decision),
nobody is paged twice for one incident step, and no page or channel notification for an incident is
sent after it closed (a group update that came due after the resolve is cancelled)."""

from __future__ import annotations

import json
from datetime import datetime

from stack_kit import Stack, wait_for

STORM = 2000


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _incidents(stack: Stack, service: str) -> list[str]:
    return [i for (i,) in stack.query("SELECT DISTINCT incident_id FROM decisions WHERE service = ?", (service,))]


def _closed_at(stack: Stack, incident_id: str) -> float | None:
    rows = stack.query("SELECT at FROM incident_updates WHERE incident_id = ? AND type = 'resolve' ORDER BY id",
                       (incident_id,))
    return _epoch(rows[0][0]) if rows else None


def _assert_nothing_after_the_close(stack: Stack, incident_id: str) -> None:
    closed = _closed_at(stack, incident_id)
    assert closed is not None, f"{incident_id} never closed\n{stack.logs()}"
    for r in stack.vendors.received:
        text = json.dumps(r.body)
        if incident_id not in text:
            continue
        resolve = r.body.get("event_action") == "resolve" or "RESOLVED" in text
        assert resolve or r.at <= closed + 0.001, f"sent {r.at - closed:.3f}s after the close: {text[:300]}"
    # the outbox agrees: every page/notify of the incident was sent before the close, or cancelled
    rows = stack.query("SELECT a.kind, a.step, a.due_at, r.outcome, (SELECT min(s.at) FROM starts s WHERE "
                       "s.action_id = a.id) FROM actions a LEFT JOIN results r ON r.action_id = a.id WHERE "
                       "a.incident_id = ? AND a.kind IN ('page', 'notify')", (incident_id,))
    for kind, step, due_at, outcome, started in rows:
        if outcome == "cancelled":
            continue
        if started is not None:
            assert _epoch(started) <= closed + 0.001, (kind, step, due_at, outcome, started)


def _assert_paged_once_per_step(stack: Stack) -> None:
    triggers: dict[tuple[str, int], int] = {}
    for r in stack.vendors.pagerduty():
        if r.body.get("event_action") == "trigger":
            step = r.body.get("payload", {}).get("custom_details", {}).get("escalation", {}).get("step", 0)
            key = (r.body["dedup_key"], step)
            triggers[key] = triggers.get(key, 0) + 1
    assert triggers and all(n == 1 for n in triggers.values()), triggers


def test_a_target_that_goes_down_pages_once_and_its_recovery_resolves_the_page(stack: Stack) -> None:
    stack.target.stop()  # the scrape fails: up == 0 fires PaymentApiDown (severity="critical")
    (incident,) = wait_for(lambda: _incidents(stack, "payment-api"), 90, what="a payment-api decision")
    severity = stack.query("SELECT severity FROM decisions WHERE event_id = ?", (incident,))[0][0]
    assert severity == "CRITICAL"  # Alertmanager's severity="critical" label, read by the shipped policy
    wait_for(lambda: [r for r in stack.vendors.pagerduty() if r.body.get("dedup_key") == incident], 60,
             what="the PagerDuty trigger")
    stack.target.start()  # back: Prometheus resolves, Alertmanager sends the resolve (send_resolved)
    wait_for(lambda: _closed_at(stack, incident), 90, what="the incident to close")
    wait_for(lambda: [r for r in stack.vendors.pagerduty() if r.body.get("event_action") == "resolve"
                      and r.body.get("dedup_key") == incident], 60, what="the PagerDuty resolve")
    trigger = next(r for r in stack.vendors.pagerduty() if r.body.get("event_action") == "trigger")
    assert trigger.body["payload"]["severity"] == "critical" and trigger.body["dedup_key"] == incident
    _assert_paged_once_per_step(stack)
    _assert_nothing_after_the_close(stack, incident)
    assert stack.count("SELECT count(*) FROM intake WHERE outcome IN ('failed', 'quarantined', 'refused')") == 0


def test_a_storm_of_2000_alerts_in_one_group_loses_nothing_and_pages_once(stack: Stack) -> None:
    stack.storm.series = {f'checkout_shard_errors{{shard="{n:04d}"}}': 1.0 for n in range(STORM)}
    firing = "SELECT count(DISTINCT json_extract(payload, '$.fingerprint')) FROM events WHERE service = " \
             "'checkout-api' AND status = 'firing'"
    wait_for(lambda: stack.count(firing) >= STORM, 120, what=f"{STORM} checkout-api alerts decided")
    assert stack.count(firing) == STORM
    prometheus = {a["labels"]["shard"] for a in stack.prometheus_alerts() if a["labels"]["alertname"] ==
                  "CheckoutShardErrors" and a["state"] == "firing"}
    assert len(prometheus) == STORM  # what Prometheus fired is exactly what was decided
    (incident,) = _incidents(stack, "checkout-api")  # one group, one incident
    bodies = stack.query("SELECT i.file, count(*) FROM intake i JOIN events e ON e.event_id = i.event_id WHERE "
                         "e.service = 'checkout-api' GROUP BY i.file")
    assert max(n for _, n in bodies) > 1000  # Alertmanager sent the group as large bodies, taken whole

    stack.storm.series = {k: 0.0 for k in stack.storm.series}  # every shard recovers
    resolved = "SELECT count(*) FROM events WHERE service = 'checkout-api' AND status = 'resolved'"
    wait_for(lambda: stack.count(resolved) >= STORM, 120, what=f"{STORM} resolves decided")
    wait_for(lambda: _closed_at(stack, incident), 60, what="the storm's incident to close")
    # the group update our grouping scheduled (group_interval 20 s) comes due after the close: wait until the
    # outbox has given every one of the incident's notifications a result, then check none went out late
    pending = "SELECT count(*) FROM actions a WHERE a.incident_id = ? AND NOT EXISTS " \
              "(SELECT 1 FROM results r WHERE r.action_id = a.id) AND a.step = 0 OR (a.incident_id = ? AND " \
              "a.kind = 'notify' AND NOT EXISTS (SELECT 1 FROM results r WHERE r.action_id = a.id))"
    wait_for(lambda: stack.count(pending, (incident, incident)) == 0, 90, what="the incident's updates to settle")
    _assert_paged_once_per_step(stack)
    assert [r for r in stack.vendors.pagerduty() if r.body.get("dedup_key") == incident and
            r.body.get("event_action") == "trigger"]  # severity="page": CRITICAL, paged (once, above)
    _assert_nothing_after_the_close(stack, incident)
    assert stack.count("SELECT count(*) FROM intake WHERE outcome IN ('failed', 'quarantined', 'refused')") == 0
    assert stack.count("SELECT count(*) FROM decisions WHERE service = 'checkout-api'") == 2 * STORM
