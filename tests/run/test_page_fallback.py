"""A P0 page that fails is retried for the level's budget, then goes through the level's fallback pager,
and when every channel failed it is loud. Real pipeline and executor against local PagerDuty/Opsgenie
stand-ins (the executor's sleep is recorded, not slept)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path

from pytest_httpserver import HTTPServer

from actions.retry import RetryPolicy
from engine.compiler.compile import compile_policy
from engine.compiler.validate import validate
from engine.run.execute import Executor
from engine.run.fallback import Fallback, budget_policy, retry_for
from engine.run.pipeline import Pipeline
from engine.run.replay import VirtualClock
from engine.store.audit import Audit

VENDOR = Path(__file__).resolve().parents[1] / "fixtures" / "vendor"
EVENT = {"event_id": "INC-FB-1", "timestamp": "2025-01-01T14:23:45Z", "source": "prometheus",
         "service": "payment-api", "title": "outage", "conditions": {"service_unavailable": True}}
P0 = ("    pagers: [pagerduty, slack]\n    channels: [slack, teams, email]",
      "    pagers: [pagerduty]\n    channels: [log]\n    retry_budget_minutes: 10\n    fallback: [opsgenie]")


def run(rules: Path, server: HTTPServer) -> tuple[list[float], Audit, list]:
    policy, diags = validate(rules)
    assert policy is not None, diags
    audit = Audit(":memory:", clock=VirtualClock(datetime(2025, 1, 1, 14, 24, tzinfo=UTC)).now)
    pipeline = Pipeline(compile_policy(policy), audit)
    assert pipeline.process("e.json", json.dumps(EVENT).encode()).ok
    sleeps: list[float] = []
    undelivered: list = []
    fallback = Fallback(audit, policy, undelivered=lambda intent, failures: undelivered.append((intent, failures)))
    env = {"PAGERDUTY_ROUTING_KEY": "R0UTING", "PAGERDUTY_EVENTS_URL": server.url_for("/v2/enqueue"),
           "OPSGENIE_API_KEY": "G3NIE", "OPSGENIE_API_URL": server.url_for("")}
    executor = Executor(audit, policy, env=env, sleep=sleeps.append,
                        retry_for=retry_for(policy, RetryPolicy()), on_failed=fallback.failed)
    executor.run_pending()
    executor.run_pending()  # the fallback request is due at once
    return sleeps, audit, undelivered


def test_a_failed_p0_page_is_retried_for_its_budget_then_falls_back(policy_copy, httpserver: HTTPServer):
    httpserver.expect_request("/v2/enqueue", method="POST").respond_with_data("down", status=503)
    httpserver.expect_request("/v2/alerts", method="POST").respond_with_json(
        json.loads((VENDOR / "opsgenie_async_response_202.json").read_text()), status=202)
    sleeps, audit, undelivered = run(policy_copy(**{"escalation-policy": P0}), httpserver)
    pd = [r for r, _ in httpserver.log if r.path == "/v2/enqueue"]
    assert len(pd) == budget_policy(10).max_attempts == 25  # not 5
    assert max(sleeps) <= 60.0 and len(sleeps) == 24
    created = [json.loads(r.data) for r, _ in httpserver.log if r.path == "/v2/alerts"]
    assert [(c["alias"], [x["username"] for x in c["responders"]]) for c in created] == [
        ("INC-FB-1", ["alice@company.com", "bob@company.com", "cto@company.com", "vp-eng@company.com"])]
    rows = audit.conn.execute("SELECT a.action, a.intent, r.outcome FROM actions a JOIN results r ON "
                              "r.action_id = a.id WHERE a.kind = 'page' ORDER BY a.id").fetchall()
    assert [(a, json.loads(i)["rule_id"], o) for a, i, o in rows] == [
        ("pagerduty", "route:CRITICAL", "failed"), ("opsgenie", "fallback:opsgenie", "ok")]
    assert undelivered == []


def test_when_every_channel_failed_it_is_logged_and_reported(policy_copy, httpserver: HTTPServer, caplog):
    httpserver.expect_request("/v2/enqueue", method="POST").respond_with_json(
        json.loads((VENDOR / "pagerduty_events_v2_response_400.json").read_text()), status=400)
    httpserver.expect_request("/v2/alerts", method="POST").respond_with_json(
        json.loads((VENDOR / "opsgenie_error_422.json").read_text()), status=422)
    caplog.set_level(logging.ERROR, "escalation_handlers.daemon")
    _, _, undelivered = run(policy_copy(**{"escalation-policy": P0}), httpserver)
    (intent, failures), = undelivered
    assert (intent.incident_id, intent.step, intent.action) == ("INC-FB-1", 0, "opsgenie")
    assert [f.split(":")[0] for f in failures] == ["pagerduty", "opsgenie"]
    assert "HTTP 400" in failures[0] and "HTTP 422" in failures[1]
    lines = [r.getMessage() for r in caplog.records if "page undelivered" in r.getMessage()]
    assert len(lines) == 1 and lines[0].startswith("page undelivered: every channel failed for INC-FB-1 step 0 (")
    assert "G3NIE" not in lines[0] and "R0UTING" not in lines[0]
