"""End to end: the real `rules` command as a subprocess, on the shipped policy and samples."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

from core_util import ROOT, SAMPLES

CLEAN_ENV = {k: v for k, v in os.environ.items()
             if not k.startswith(("PAGERDUTY", "OPSGENIE", "SLACK", "TEAMS", "SMTP", "SENDGRID", "EMAIL", "AWS"))}


def rules(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], capture_output=True, text=True, timeout=120,
                          cwd=cwd or ROOT, env=CLEAN_ENV)


def test_run_once_on_the_samples_fills_the_audit_log(tmp_path: Path) -> None:
    db, spool = tmp_path / "audit.db", tmp_path / "spool"
    seeds = sorted(SAMPLES.glob("*.json"))
    enqueue = [arg for p in seeds for arg in ("--enqueue", str(p))]
    res = rules("run", "--once", "--db", str(db), "--spool", str(spool), *enqueue)
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    assert f"{len(seeds)} file(s) done, 0 failed, {len(seeds)} decision(s)" in res.stdout
    assert sorted(p.name for p in (spool / "done").iterdir()) == [p.name for p in seeds]
    assert not list((spool / "processing").iterdir()) and not list((spool / "incoming").iterdir())
    conn = sqlite3.connect(db)
    sev = dict(conn.execute("SELECT event_id, severity FROM decisions"))
    assert sev["INC-2025-001"] == "CRITICAL" and sev["INC-2025-004"] == "NONE"
    # No credentials here: every adapter that needs them is reported, never silently skipped.
    results = dict(conn.execute(
        "SELECT a.action || ':' || a.kind, r.outcome FROM actions a JOIN results r ON r.action_id = a.id "
        "WHERE a.event_id = 'INC-2025-001'"))
    assert results["pagerduty:page"] == "not-configured"
    assert results["failover:remediate"] == "not-configured"
    assert conn.execute("SELECT count(*) FROM actions a WHERE a.step = 0 AND NOT EXISTS "  # later steps wait
                        "(SELECT 1 FROM results r WHERE r.action_id = a.id)").fetchone()[0] == 0
    assert "not-configured  pagerduty" in res.stdout
    detail = conn.execute("SELECT r.detail FROM results r JOIN actions a ON a.id = r.action_id "
                          "WHERE a.action = 'pagerduty' LIMIT 1").fetchone()[0]
    assert detail == "PAGERDUTY_ROUTING_KEY is not set"

    again = rules("run", "--once", "--db", str(db), "--spool", str(spool), "--enqueue", str(seeds[0]))
    assert "1 file(s) done, 0 failed, 0 decision(s)" in again.stdout  # a duplicate is done, not a failure
    assert not (spool / "failed" / f"{seeds[0].name}.reason.json").exists()
    assert conn.execute("SELECT count(*) FROM intake WHERE outcome = 'duplicate'").fetchone()[0] == 1


def test_bad_event_file_is_quarantined_with_its_reason(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"event_id": "x", "timestamp": "2025-01-01T00:00:00Z", "service": "api", "metrcis": {}}')
    spool = tmp_path / "spool"
    res = rules("run", "--once", "--db", str(tmp_path / "a.db"), "--spool", str(spool), "--enqueue", str(bad))
    assert res.returncode == 1 and "Traceback" not in res.stderr  # the run says a file was rejected
    assert "event file failed: bad.json: schema: " in res.stderr and "metrcis" in res.stderr  # which, and why
    assert f"error: 1 event file(s) rejected; each is in {spool / 'failed'} with a .reason.json" in res.stderr
    reason = json.loads((spool / "failed" / "bad.json.reason.json").read_text())
    assert "metrcis" in reason["reason"] and "\n" not in reason["reason"]
    assert (spool / "failed" / "bad.json").read_bytes() == bad.read_bytes()  # nothing lost


def test_simulate_names_each_steps_targets() -> None:
    """Each escalation step's page is its own line, told apart by its targets."""
    out = rules("simulate", "sample-events/critical-service-outage.json").stdout.splitlines()
    pages = [line for line in out if line.startswith("  would page via pagerduty")]
    assert [line.split(":")[0] for line in pages] == [
        "  would page via pagerduty → alice@company.com, bob@company.com, cto@company.com, vp-eng@company.com",
        "  would page via pagerduty → charlie@company.com"]


def test_simulate_check_passes_on_the_samples() -> None:
    res = rules("simulate", "sample-events/", "--check")
    assert res.returncode == 0, res.stdout + res.stderr
    last = res.stderr.strip().splitlines()[-1]
    passed, failed = (int(x.split()[0]) for x in last.split(", "))
    assert failed == 0 and passed >= 4


def test_simulate_check_reports_a_diff_and_fails(tmp_path: Path) -> None:
    doc = json.loads((SAMPLES / "moderate-degradation.json").read_text())
    doc["expect"] = {"severity": "MAJOR", "owner": "backend", "channels": ["slack"]}
    path = tmp_path / "wrong.json"
    path.write_text(json.dumps(doc))
    res = rules("simulate", str(path), "--check")
    assert res.returncode == 1
    assert "severity: want 'MAJOR', have 'MODERATE'" in res.stderr
    assert "owner: want 'backend', have 'frontend'" in res.stderr
    assert res.stderr.strip().endswith("0 passed, 1 failed")


def test_simulate_json_contract() -> None:
    res = rules("simulate", "sample-events/critical-service-outage.json", "--format", "json")
    assert res.returncode == 0, res.stderr
    (decision,) = json.loads(res.stdout)
    for key in ("event_id", "severity", "confidence", "fired_rules", "owner", "escalation", "remediation",
                "notifications"):
        assert key in decision
    assert decision["fired_rules"][0] == "severity:service-unavailable"
    assert decision["owner"]["primary"] == ["alice@company.com", "bob@company.com"]
    assert decision["remediation"]["action"] == "failover"
    assert {n["channel"] for n in decision["notifications"]} == {"slack", "teams", "email"}
    slack = next(n for n in decision["notifications"] if n["channel"] == "slack")
    assert slack["message"]["attachments"][0]["color"] == "#c92a2a"
    assert decision["firings"][0]["why"] == ["conditions.service_unavailable eq True (actual True)"]


def test_commands_fall_back_to_the_shipped_policy(tmp_path: Path) -> None:
    shutil.copy(SAMPLES / "major-performance-degradation.json", tmp_path / "e.json")
    res = rules("simulate", "e.json", "--format", "json", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)[0]["severity"] == "MAJOR"
