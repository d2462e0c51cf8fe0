"""Each escalation step reaches the people it names, and a vendor's ack finds our incident.

Through the real pipeline, outbox and executor on a virtual clock, against local HTTP servers
standing in for PagerDuty's Events API v2 and Opsgenie's Alert API (exact payloads checked), with
PagerDuty's real webhook v3 deliveries from tests/fixtures/vendor/.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from engine.compiler.compile import compile_policy
from engine.compiler.validate import validate
from engine.run.execute import Executor
from engine.run.pipeline import Pipeline
from engine.run.replay import VirtualClock
from engine.store.audit import Audit

VENDOR = Path(__file__).resolve().parents[1] / "fixtures" / "vendor"
T0 = datetime(2025, 1, 1, 14, 23, 45, tzinfo=UTC)
EVENT = {"event_id": "INC-REACH-1", "timestamp": "2025-01-01T14:23:45Z", "source": "prometheus",
         "service": "payment-api", "title": "outage", "conditions": {"service_unavailable": True}}
BACKUP_KEYS = ("    escalation_delay: 300  # 5 minutes\n",
               "    escalation_delay: 300  # 5 minutes\n    pagerduty_routing_key_env: PD_BACKEND\n"
               "    pagerduty_backup_routing_key_env: PD_BACKEND_BACKUP\n")


class Harness:
    def __init__(self, rules: Path, server: HTTPServer, env: dict[str, str]) -> None:
        policy, diags = validate(rules)
        assert policy is not None, diags
        self.clock = VirtualClock(T0)
        self.audit = Audit(":memory:", clock=self.clock.now)
        self.pipeline = Pipeline(compile_policy(policy), self.audit)
        self.executor = Executor(self.audit, policy, env=env, sleep=lambda s: None)
        self.server = server

    def at(self, seconds: float):
        self.clock.set(T0 + timedelta(seconds=seconds))
        return self.executor.run_pending()

    def process(self, doc: dict):
        return self.pipeline.process("in.json", json.dumps(doc).encode())

    def sent(self, path: str = "/v2/enqueue") -> list[dict]:
        return [json.loads(req.data) for req, _ in self.server.log if req.path == path]

    def paths(self) -> list[str]:
        return [req.path for req, _ in self.server.log]


def webhook(name: str, **data: str) -> dict:
    doc = json.loads((VENDOR / name).read_text())
    doc["event"]["data"].update(data)
    return doc


@pytest.fixture
def pd(policy_copy, httpserver: HTTPServer):
    def make(*edits: tuple[str, str]) -> Harness:
        def answer(request):  # PagerDuty's real 202 body, with the dedup key it was sent
            from werkzeug import Response

            body = json.loads((VENDOR / "pagerduty_events_v2_response_202.json").read_text())
            body["dedup_key"] = json.loads(request.data)["dedup_key"]
            return Response(json.dumps(body), status=202, content_type="application/json")

        httpserver.expect_request("/v2/enqueue", method="POST").respond_with_handler(answer)
        rules = policy_copy(**({"escalation-matrix": edits[0]} if edits else {}))
        env = {"PAGERDUTY_ROUTING_KEY": "R-DEFAULT", "PD_BACKEND": "R-PRIMARY", "PD_BACKEND_BACKUP": "R-BACKUP",
               "PAGERDUTY_EVENTS_URL": httpserver.url_for("/v2/enqueue")}
        return Harness(rules, httpserver, env)

    return make


def test_each_pagerduty_step_is_its_own_alert_on_its_own_service_and_resolve_closes_each(pd):
    esc = pd(BACKUP_KEYS)
    assert esc.process(EVENT).ok
    esc.at(0)
    esc.at(300)
    triggers = esc.sent()
    assert [(b["routing_key"], b["dedup_key"], b["payload"]["custom_details"]["escalation"]["targets"])
            for b in triggers] == [
        ("R-PRIMARY", "INC-REACH-1", ["alice@company.com", "bob@company.com", "cto@company.com",
                                      "vp-eng@company.com"]),
        ("R-BACKUP", "INC-REACH-1.step-1", ["charlie@company.com"])]
    esc.clock.set(T0 + timedelta(seconds=400))
    assert esc.process({"type": "resolve", "event_id": "r-1", "incident_id": "INC-REACH-1", "by": "alice",
                        "timestamp": esc.clock.now()}).ok
    esc.at(400)
    assert esc.sent()[2:] == [
        {"routing_key": "R-PRIMARY", "event_action": "resolve", "dedup_key": "INC-REACH-1"},
        {"routing_key": "R-BACKUP", "event_action": "resolve", "dedup_key": "INC-REACH-1.step-1"}]


def test_pagerduty_ack_webhook_with_pagerdutys_ids_stops_the_chain(pd):
    esc = pd()
    assert esc.process(EVENT).ok
    esc.at(0)
    # the real delivery, for an incident our trigger opened: PagerDuty puts our dedup key in incident_key
    ack = esc.process(webhook("pagerduty_webhook_v3_incident_acknowledged.json", incident_key="INC-REACH-1"))
    assert ack.ok, ack.reason
    assert [a.incident_id for a in ack.acknowledgements] == ["INC-REACH-1"]
    reports = esc.at(300)
    assert [r.outcome for r in reports if r.action == "pagerduty"] == ["cancelled"]
    assert len(esc.sent()) == 1  # the backup was not paged, nothing echoed back to PagerDuty
    # PagerDuty's own incident id is now known: a later delivery naming only it (no incident_key) matches
    resolved = webhook("pagerduty_webhook_v3_incident_resolved.json", id="PQ1K5C8")
    result = esc.process(resolved)
    assert result.ok, result.reason
    assert [(u["type"], u["by"], u["source"]) for u in esc.audit.incident_updates("INC-REACH-1")] == [
        ("ack", "PIG 208", "pagerduty"), ("resolve", "PIG 208", "pagerduty")]


def test_a_later_steps_dedup_key_maps_back_to_the_incident(pd):
    esc = pd()
    assert esc.process(EVENT).ok
    esc.at(0)
    esc.at(300)
    ack = esc.process(webhook("pagerduty_webhook_v3_incident_acknowledged.json", incident_key="INC-REACH-1.step-1"))
    assert ack.ok, ack.reason
    esc.at(301)
    # the backup acked step 1's alert in PagerDuty: step 0's alert is acknowledged there too, step 1's is not echoed
    assert esc.sent()[2:] == [{"routing_key": "R-DEFAULT", "event_action": "acknowledge",
                               "dedup_key": "INC-REACH-1"}]


def test_an_ack_that_matches_nothing_is_refused_counted_and_logged(pd, caplog):
    esc = pd()
    assert esc.process(EVENT).ok
    esc.at(0)
    caplog.set_level(logging.WARNING, "escalation_handlers.daemon")
    result = esc.process(webhook("pagerduty_webhook_v3_incident_acknowledged.json"))  # UI incident: no key
    assert (result.ok, result.code) == (False, "unmatched-ack")
    assert "PQ1K5C8" in result.reason
    row = esc.audit.conn.execute("SELECT outcome, code FROM intake WHERE event_id = ?",
                                 ("pagerduty:01BZYK8N47N5JG55J1EEEHPEJI",)).fetchone()
    assert row == ("failed", "unmatched-ack")
    assert any("unmatched ack" in r.getMessage() for r in caplog.records)
    esc.at(300)
    assert [b["dedup_key"] for b in esc.sent()] == ["INC-REACH-1", "INC-REACH-1.step-1"]  # the chain went on


def test_opsgenie_step_is_a_new_alert_whose_responders_are_the_backup(policy_copy, httpserver: HTTPServer):
    httpserver.expect_request("/v2/alerts", method="POST").respond_with_json(
        json.loads((VENDOR / "opsgenie_async_response_202.json").read_text()), status=202)
    httpserver.expect_request("/v2/alerts/INC-REACH-1.step-1/close", method="POST").respond_with_json(
        json.loads((VENDOR / "opsgenie_async_response_202.json").read_text()), status=202)
    httpserver.expect_request("/v2/alerts/INC-REACH-1/close", method="POST").respond_with_json(
        json.loads((VENDOR / "opsgenie_async_response_202.json").read_text()), status=202)
    rules = policy_copy(**{"escalation-policy": ("    pagers: [pagerduty, slack]\n    channels: [slack, teams, email]",
                                                 "    pagers: [opsgenie]\n    channels: [log]")})
    esc = Harness(rules, httpserver, {"OPSGENIE_API_KEY": "G3NIE", "OPSGENIE_API_URL": httpserver.url_for("")})
    assert esc.process(EVENT).ok
    esc.at(0)
    esc.at(300)
    created = esc.sent("/v2/alerts")
    assert [(c["alias"], c["responders"]) for c in created] == [
        ("INC-REACH-1", [{"username": "alice@company.com", "type": "user"},
                         {"username": "bob@company.com", "type": "user"},
                         {"username": "cto@company.com", "type": "user"},
                         {"username": "vp-eng@company.com", "type": "user"}]),
        ("INC-REACH-1.step-1", [{"username": "charlie@company.com", "type": "user"}])]
    esc.clock.set(T0 + timedelta(seconds=400))
    assert esc.process({"type": "resolve", "event_id": "r-1", "incident_id": "INC-REACH-1.step-1", "by": "charlie",
                        "timestamp": esc.clock.now(), "source": "manual"}).ok
    esc.at(400)
    assert sorted(p for p in esc.paths() if p.endswith("/close")) == [
        "/v2/alerts/INC-REACH-1.step-1/close", "/v2/alerts/INC-REACH-1/close"]


def test_opsgenie_ack_webhook_stops_the_chain_and_is_not_echoed_to_its_alert(policy_copy, httpserver: HTTPServer):
    accepted = json.loads((VENDOR / "opsgenie_async_response_202.json").read_text())
    httpserver.expect_request("/v2/alerts", method="POST").respond_with_json(accepted, status=202)
    rules = policy_copy(**{"escalation-policy": ("    pagers: [pagerduty, slack]\n    channels: [slack, teams, email]",
                                                 "    pagers: [opsgenie]\n    channels: [log]")})
    esc = Harness(rules, httpserver, {"OPSGENIE_API_KEY": "G3NIE", "OPSGENIE_API_URL": httpserver.url_for("")})
    assert esc.process(EVENT).ok
    esc.at(0)
    # alice acknowledges step 0's alert in Opsgenie; the Webhook integration posts the alert action data
    doc = json.loads((VENDOR / "opsgenie_webhook_acknowledge.json").read_text())
    doc["alert"]["alias"] = "INC-REACH-1"
    doc["alert"]["username"] = "alice@company.com"
    ack = esc.process(doc)
    assert ack.ok, ack.reason
    assert [(a.incident_id, a.by, a.source) for a in ack.acknowledgements] == [
        ("INC-REACH-1", "alice@company.com", "opsgenie")]
    reports = esc.at(300)
    assert [r.outcome for r in reports if r.action == "opsgenie"] == ["cancelled"]  # the backup is not paged
    assert esc.paths() == ["/v2/alerts"]  # one create; the ack is not sent back to the alert it came from
    # Opsgenie's alert id is now known: a Close naming only it (an alias we do not know) still matches
    close = json.loads((VENDOR / "opsgenie_webhook_close.json").read_text())
    close["alert"]["alias"] = "renamed-in-opsgenie"
    result = esc.process(close)
    assert result.ok, result.reason
    assert [(u["type"], u["source"]) for u in esc.audit.incident_updates("INC-REACH-1")] == [
        ("ack", "opsgenie"), ("resolve", "opsgenie")]


SLACK_USERS = ("fallback_team: sre   # services with no owner go here, flagged in the audit log\n",
               "fallback_team: sre   # services with no owner go here, flagged in the audit log\n"
               "slack_users:\n  alice@company.com: U0ALICE01\n  charlie@company.com: W0CHARLIE\n")


def test_slack_steps_mention_mapped_people_by_user_id(policy_copy, httpserver: HTTPServer):
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    rules = policy_copy(**{"escalation-matrix": SLACK_USERS,
                           "escalation-policy": ("    pagers: [pagerduty, slack]\n    channels: [slack, teams, email]",
                                                 "    pagers: [slack]\n    channels: [log]")})
    esc = Harness(rules, httpserver, {"SLACK_WEBHOOK_URL": httpserver.url_for("/hook")})
    assert esc.process(EVENT).ok
    esc.at(0)
    esc.at(300)
    texts = [b["text"].split(" ", 6)[:5] for b in esc.sent("/hook")]
    # the team's group, then the people: a user id is a mention (it notifies), an unmapped e-mail is plain text
    assert texts[0] == ["<!subteam^S0BACKEND1>", "<@U0ALICE01>", "bob", "cto", "vp-eng"]
    assert texts[1][:2] == ["<!subteam^S0BACKEND1>", "<@W0CHARLIE>"]


@pytest.mark.parametrize("wrong, code", [("charlie@compnay.com: W0CHARLIE", "slack-user-unknown"),
                                         ("charlie@company.com: charlie", "schema-pattern")])
def test_slack_users_are_validated_at_file_line_col(policy_copy, wrong, code):
    old, new = SLACK_USERS
    rules = policy_copy(**{"escalation-matrix": (old, new.replace("charlie@company.com: W0CHARLIE", wrong))})
    _, diags = validate(rules)
    line = next(i for i, text in enumerate((rules / "escalation-matrix.yaml").read_text().splitlines(), 1)
                if wrong in text)
    assert [(d.code, d.line, d.col) for d in diags if d.severity == "error"] == [(code, line, 24 if "@compnay" not in
                                                                                   wrong else 3)]
