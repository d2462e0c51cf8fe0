"""Escalation steps through the real pipeline, outbox and executor, on a virtual clock, against a
local HTTP server standing in for PagerDuty's Events API: primary at once, backup at exactly
+escalation_delay unless acknowledged, acks/resolves forwarded upstream, no step paged twice."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from pytest_httpserver import HTTPServer

from engine.compiler.compile import compile_policy
from engine.compiler.validate import validate
from engine.decide.escalation import plan
from engine.run.execute import Executor
from engine.run.pipeline import Pipeline
from engine.run.replay import VirtualClock
from engine.store.audit import Audit

T0 = datetime(2025, 1, 1, 14, 23, 45, tzinfo=UTC)
EVENT = {"event_id": "INC-ESC-1", "timestamp": "2025-01-01T14:23:45Z", "source": "prometheus",
         "service": "payment-api", "title": "outage", "conditions": {"service_unavailable": True}}


class Harness:
    def __init__(self, rules, server: HTTPServer) -> None:
        policy, diags = validate(rules)
        assert policy is not None, diags
        self.clock = VirtualClock(T0)
        self.audit = Audit(":memory:", clock=self.clock.now)
        self.pipeline = Pipeline(compile_policy(policy), self.audit)
        env = {"PAGERDUTY_ROUTING_KEY": "R0UTING", "PAGERDUTY_EVENTS_URL": server.url_for("/v2/enqueue")}
        self.executor = Executor(self.audit, policy, env=env, sleep=lambda s: None)
        self.server = server

    def at(self, seconds: float):
        self.clock.set(T0 + timedelta(seconds=seconds))
        return self.executor.run_pending()

    def send(self, doc: dict) -> None:
        result = self.pipeline.process("test.json", json.dumps(doc).encode())
        assert result.ok, result.reason

    def ack(self, kind: str, by: str, source: str = "manual", n: int = 1) -> None:
        self.send({"type": kind, "event_id": f"{kind}-{n}", "incident_id": "INC-ESC-1", "by": by,
                   "timestamp": self.clock.now(), "source": source})

    def sent(self) -> list[dict]:
        return [json.loads(req.data) for req, _ in self.server.log]

    def pages(self) -> Counter:
        return Counter((b["event_action"], b.get("payload", {}).get("custom_details", {}).get("escalation", {})
                        .get("step")) for b in self.sent())


@pytest.fixture
def esc(policy_copy, httpserver: HTTPServer) -> Harness:
    httpserver.expect_request("/v2/enqueue", method="POST").respond_with_json(
        {"status": "success", "message": "Event processed"}, status=202)
    return Harness(policy_copy(), httpserver)


def test_without_ack_backup_is_paged_at_exactly_the_delay(esc):
    esc.send(EVENT)
    esc.at(0)
    first = esc.sent()
    assert len(first) == 1 and first[0]["payload"]["custom_details"]["escalation"] == {
        "step": 0, "targets": ["alice@company.com", "bob@company.com", "cto@company.com", "vp-eng@company.com"]}
    assert first[0]["dedup_key"] == "INC-ESC-1"
    assert [r.kind for r in esc.at(299.999) if r.action == "pagerduty"] == []
    reports = [r for r in esc.at(300) if r.action == "pagerduty"]
    assert [(r.kind, r.outcome) for r in reports] == [("page", "ok")]
    assert esc.sent()[-1]["payload"]["custom_details"]["escalation"] == {"step": 1, "targets": ["charlie@company.com"]}
    assert esc.pages() == Counter({("trigger", 0): 1, ("trigger", 1): 1})


def test_ack_at_four_minutes_cancels_the_backup_step_and_acks_pagerduty(esc):
    esc.send(EVENT)
    esc.at(0)
    esc.clock.set(T0 + timedelta(minutes=4))
    esc.ack("ack", "bob@company.com")
    assert [(r.action, r.kind, r.outcome) for r in esc.at(240)] == [("pagerduty", "acknowledge", "ok")]
    later = esc.at(300)
    cancelled = [r for r in later if r.outcome == "cancelled"]
    assert {(r.action, r.kind) for r in cancelled} == {("pagerduty", "page"), ("slack", "page")}
    assert all(r.detail == "acknowledged by bob@company.com at 2025-01-01T14:27:45.000Z" for r in cancelled)
    assert esc.pages() == Counter({("trigger", 0): 1, ("acknowledge", None): 1})
    assert esc.audit.count("results", "outcome = 'cancelled'") == 2


def test_resolve_closes_upstream_and_stops_the_chain(esc):
    esc.send(EVENT)
    esc.at(0)
    esc.clock.set(T0 + timedelta(seconds=100))
    esc.ack("resolve", "alice@company.com")
    esc.at(100)
    esc.at(10_000)
    assert esc.pages() == Counter({("trigger", 0): 1, ("resolve", None): 1})
    assert esc.sent()[-1] == {"event_action": "resolve", "dedup_key": "INC-ESC-1", "routing_key": "R0UTING"}


@pytest.mark.parametrize("trace", ["started", "timed-out"])
def test_a_resolve_goes_upstream_whenever_the_trigger_may_have_been_delivered(esc, trace):
    """Killed between the send and its attempt row, or accepted after our timeout: no ``ok`` result, but the
    vendor may hold an open alert; the resolve must still close it."""
    esc.send(EVENT)
    row = next(r for r in esc.audit.pending_actions() if r["action"] == "pagerduty")
    esc.audit.record_start(row["id"], 1, row["rules_hash"])
    if trace == "timed-out":
        from actions.retry import Attempt

        esc.audit.record_attempt(row["id"], Attempt(1, False, "PagerDuty: timed out", "timeout", True), "h")
    esc.clock.set(T0 + timedelta(seconds=100))
    esc.ack("resolve", "alice@company.com")
    reports = [(r.action, r.kind, r.outcome) for r in esc.at(100) if r.action == "pagerduty"]
    assert ("pagerduty", "resolve", "ok") in reports and ("pagerduty", "page", "cancelled") in reports
    assert esc.sent() == [{"event_action": "resolve", "dedup_key": "INC-ESC-1", "routing_key": "R0UTING"}]


def test_a_page_never_started_needs_no_resolve(esc):
    esc.send(EVENT)
    esc.clock.set(T0 + timedelta(seconds=100))
    esc.ack("resolve", "alice@company.com")
    esc.at(100)
    assert esc.sent() == [], "nothing reached PagerDuty: nothing to resolve there"


def test_ack_from_pagerduty_itself_is_not_echoed_back(esc):
    esc.send(EVENT)
    esc.at(0)
    esc.clock.set(T0 + timedelta(seconds=60))
    esc.ack("ack", "Bob", source="pagerduty")
    esc.at(60)
    esc.at(400)
    assert esc.pages() == Counter({("trigger", 0): 1})


def test_nothing_is_paged_twice_for_one_step(esc):
    esc.send(EVENT)
    for t in (0, 0, 1, 300, 300, 301, 5000):
        esc.at(t)
    dup = esc.pipeline.process("again.json", json.dumps(EVENT).encode())  # the same event delivered again
    assert dup.code == "duplicate"
    esc.ack("ack", "bob@company.com", n=1)
    esc.ack("ack", "bob@company.com", n=1)  # redelivered ack: same event_id
    esc.ack("ack", "carol@company.com", n=2)  # a second ack of the same incident
    esc.at(6000)
    esc.at(7000)
    # both steps were paged, each its own PagerDuty alert: the ack goes to each, once
    assert esc.pages() == Counter({("trigger", 0): 1, ("trigger", 1): 1, ("acknowledge", None): 2})
    acks = sorted(b["dedup_key"] for b in esc.sent() if b["event_action"] == "acknowledge")
    assert acks == ["INC-ESC-1", "INC-ESC-1.step-1"]


def test_declared_steps_and_repeat_build_the_chain(policy_copy):
    old = "    notify: [\"eng-leads@company.com\"]\n"
    new = old + ("    repeat: 1\n    steps:\n      - targets: [primary]\n      - targets: [backup]\n"
                 "      - targets: [notify]\n        delay: 600\n")
    policy, diags = validate(policy_copy(**{"escalation-policy": (old, new)}))
    assert policy is not None, diags
    from engine.model.schedule import resolve

    steps = plan(resolve(policy, "checkout-web"), policy.levels["MAJOR"])
    assert [(s.step, s.after_seconds, s.targets) for s in steps] == [
        (0, 0, ("dave@company.com",)), (1, 180, ("eve@company.com",)), (2, 780, ("eng-leads@company.com",)),
        (3, 960, ("dave@company.com",)), (4, 1140, ("eve@company.com",)), (5, 1740, ("eng-leads@company.com",))]
    assert plan(resolve(policy, "checkout-web"), policy.levels["NONE"]) == []  # P3: logging only


def test_an_upgrade_after_an_ack_does_not_escalate_to_the_backup(esc):
    """MODERATE (Slack only) paged, acked at +1m, then the same alert turns CRITICAL at +2m (an upgrade of the
    open incident: PagerDuty's chain is requested only now). The upgrade may notify step 0 at the new level,
    but the acknowledged incident is never escalated to the backup, however late the step was requested."""
    esc.send({**EVENT, "conditions": {}, "metrics": {"error_rate": 0.02}})  # MODERATE
    esc.at(0)
    esc.clock.set(T0 + timedelta(seconds=60))
    esc.ack("ack", "bob@company.com")
    esc.at(60)
    esc.clock.set(T0 + timedelta(seconds=120))
    esc.send({**EVENT, "event_id": "INC-ESC-1-b", "timestamp": "2025-01-01T14:25:45Z"})  # CRITICAL, same alert
    for t in (120, 300, 420, 10_000):
        esc.at(t)
    steps = [b["payload"]["custom_details"]["escalation"] for b in esc.sent() if b["event_action"] == "trigger"]
    assert [s["step"] for s in steps] == [0] and "cto@company.com" in steps[0]["targets"]
    backup = esc.audit.conn.execute("SELECT a.action, r.outcome, r.detail FROM actions a JOIN results r "
                                    "ON r.action_id = a.id WHERE a.kind = 'page' AND a.step = 1").fetchall()
    assert {a for a, _, _ in backup} == {"pagerduty", "slack"}
    assert all(o == "cancelled" and d.startswith("acknowledged by bob@company.com") for _, o, d in backup)
