"""Missing credentials are loud: ``rules validate --strict`` fails on them, ``/healthz`` names them, and
``rules run --once`` exits non-zero when a page failed (a real PagerDuty stand-in refusing it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from core_util import ROOT
from pytest_httpserver import HTTPServer

from engine.cli.run import unconfigured
from engine.compiler.validate import validate
from engine.run.daemon.metrics import Health
from engine.run.execute import Executor
from engine.store.audit import Audit

CLEAN = {k: v for k, v in os.environ.items()
         if not k.startswith(("PAGERDUTY", "OPSGENIE", "SLACK", "TEAMS", "SMTP", "SENDGRID", "EMAIL", "AWS"))}
FULL = {"PAGERDUTY_ROUTING_KEY": "R", "SLACK_WEBHOOK_URL": "http://127.0.0.1:9/hook",
        "TEAMS_WEBHOOK_URL": "http://127.0.0.1:9/teams", "EMAIL_FROM": "a@example.com", "SMTP_HOST": "127.0.0.1",
        "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y", "AWS_REGION": "us-east-1"}


def rules(*args: str, env: dict[str, str], cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from engine.cli import entry; entry()", *args], capture_output=True,
                          text=True, timeout=120, cwd=cwd, env={**env, "PYTHONPATH": str(ROOT)})


def test_validate_strict_fails_on_a_missing_credential_and_passes_with_all() -> None:
    no_teams = {k: v for k, v in FULL.items() if k != "TEAMS_WEBHOOK_URL"}
    missing = rules("validate", "--strict", env={**CLEAN, **no_teams})
    assert missing.returncode == 1
    assert missing.stdout.strip().splitlines() == [
        "rules/escalation-policy.yaml:10:23: error[adapter-not-configured] /levels/CRITICAL/channels/1: action "
        "'teams' is not configured: TEAMS_WEBHOOK_URL is not set; its requests will be recorded as not-configured"]
    assert rules("validate", env={**CLEAN}).returncode == 0  # without --strict: warnings only
    full = rules("validate", "--strict", env={**CLEAN, **FULL})
    assert (full.returncode, full.stdout) == (0, "")


def test_healthz_names_each_unconfigured_adapter(tmp_path: Path) -> None:
    policy, _ = validate(ROOT / "rules")
    assert policy is not None
    env = {k: v for k, v in FULL.items() if k not in ("PAGERDUTY_ROUTING_KEY", "EMAIL_FROM")}
    missing = unconfigured(Executor(Audit(":memory:"), policy, env=env), policy)
    assert missing == {"email": "EMAIL_FROM is not set", "pagerduty": "PAGERDUTY_ROUTING_KEY is not set"}
    health = Health()
    health.unconfigured = missing
    ok, body = health.report()
    assert ok and body["status"] == "degraded" and body["unconfigured_adapters"] == missing
    healthy = Health()
    assert healthy.report()[1]["status"] == "ok"
    healthy.undelivered = ["INC-1 step 0: pagerduty: HTTP 503; opsgenie: HTTP 503"]
    assert healthy.report()[1]["status"] == "degraded"
    assert healthy.report()[1]["undelivered_pages"] == healthy.undelivered


def test_run_once_exits_4_when_a_page_failed(tmp_path: Path, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v2/enqueue", method="POST").respond_with_json(
        json.loads((ROOT / "tests/fixtures/vendor/pagerduty_events_v2_response_400.json").read_text()), status=400)
    event = {"event_id": "INC-FAIL-1", "timestamp": "2025-01-01T14:23:45Z", "source": "prometheus",
             "service": "payment-api", "title": "outage", "conditions": {"service_unavailable": True}}
    (tmp_path / "e.json").write_text(json.dumps(event))
    env = {**CLEAN, "PAGERDUTY_ROUTING_KEY": "R0UTING", "PAGERDUTY_EVENTS_URL": httpserver.url_for("/v2/enqueue")}
    run = rules("run", "--once", "--rules", str(ROOT / "rules"), "--db", str(tmp_path / "a.db"), "--spool",
                str(tmp_path / "spool"), "--enqueue", str(tmp_path / "e.json"), env=env, cwd=tmp_path)
    assert run.returncode == 4, run.stderr
    errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert errors and all(e.startswith("error: page for INC-FAIL-1 via pagerduty failed: ") for e in errors)
    assert len(httpserver.log) == 1  # 400 is permanent: one attempt, no retries
    assert json.loads(httpserver.log[0][0].data)["dedup_key"] == "INC-FAIL-1"
