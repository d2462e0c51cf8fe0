"""`rules impact`: recorded events replayed through two rule sets; exactly the expected changes."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from datetime import datetime
from pathlib import Path

import pytest
from review_util import RULES, SAMPLES, rules

from engine.report import impact as impact_report


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An audit log recorded by the daemon from the sample events (with the shipped model)."""
    tmp = tmp_path_factory.mktemp("recorded")
    db = tmp / "escalation.db"
    res = rules("run", "--once", "--enqueue", str(SAMPLES), "--db", str(db), "--spool", str(tmp / "spool"),
                "--rules", str(RULES))
    assert res.returncode == 0, res.stderr
    return db


def _changed_threshold(tmp_path: Path) -> Path:
    head = tmp_path / "head"
    shutil.copytree(RULES, head)
    sev = head / "severity.yaml"
    text = sev.read_text()
    assert text.count("metrics.error_rate: {gte: 0.01}") == 1
    sev.write_text(text.replace("metrics.error_rate: {gte: 0.01}", "metrics.error_rate: {gte: 0.02}"))
    return head


def test_same_rules_reproduce_every_recorded_decision(recorded: Path) -> None:
    res = rules("impact", "--baseline", str(RULES), "--rules", str(RULES), "--db", str(recorded), "--format", "json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    with sqlite3.connect(recorded) as conn:
        n = conn.execute("SELECT COUNT(*) FROM decisions").fetchone()[0]
    assert doc["events"] == n > 10
    assert doc["changed_events"] == 0 and doc["changes"] == {}


def test_one_threshold_changes_exactly_the_events_between_old_and_new(recorded: Path, tmp_path: Path) -> None:
    head = _changed_threshold(tmp_path)
    res = rules("impact", "--baseline", str(RULES), "--rules", str(head), "--db", str(recorded), "--format", "json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    with sqlite3.connect(recorded) as conn:  # the recorded decisions the old threshold made, the new would not
        expected = sorted(eid for eid, payload, fired in conn.execute(
            "SELECT e.event_id, e.payload, d.fired_rules FROM events e JOIN decisions d USING (event_id)")
            if '"severity:error-rate-elevated"' in fired
            and json.loads(payload).get("metrics", {}).get("error_rate", 1) < 0.02)
    assert expected  # the samples have such events
    assert sorted(c["event_id"] for c in doc["changed"]) == expected
    assert all("severity" in c["kinds"] and c["base"]["severity"] == "MODERATE" for c in doc["changed"])
    assert set(doc["changes"]) <= {"severity", "rule", "route", "pages_removed", "remediation", "channels"}
    pages = doc["pages_per_rule"]["error-rate-elevated"]
    assert pages["base"] - pages["head"] == len(doc["changes"].get("pages_removed", {}).get("examples", []))


def test_budget_fails_the_job_and_markdown_and_html_are_written(recorded: Path, tmp_path: Path) -> None:
    head = _changed_threshold(tmp_path)
    budget = tmp_path / "impact-budget.yaml"
    budget.write_text("max:\n  severity: 0\n  pages_added: 0\n")
    summary, page = tmp_path / "summary.md", tmp_path / "impact.html"
    res = rules("impact", "--baseline", str(RULES), "--rules", str(head), "--db", str(recorded), "--format",
                "markdown", "--budget", str(budget), "--summary", str(summary), "--html", str(page))
    assert res.returncode == 1
    assert "error: impact over budget: severity: " in res.stderr and "budget 0" in res.stderr
    md = summary.read_text()
    assert md.startswith(impact_report.MARKER) and "| severity |" in md and "over budget" in md
    assert "<details>" in md and "<table>" in page.read_text()
    budget.write_text("max:\n  severty: 0\n")
    bad = rules("impact", "--baseline", str(RULES), "--rules", str(head), "--db", str(recorded),
                "--budget", str(budget))
    assert bad.returncode == 2 and "unknown kind(s) severty" in bad.stderr


def test_base_from_a_git_ref_and_event_files(tmp_path: Path) -> None:
    repo = tmp_path / "policy-repo"
    shutil.copytree(RULES, repo / "rules")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "policy"], check=True)
    sev = repo / "rules" / "severity.yaml"
    text = sev.read_text()
    sev.write_text(text.replace("metrics.latency_p99_ms: {gte: 1000}", "metrics.latency_p99_ms: {gte: 2000}"))
    res = rules("impact", "--base", "HEAD", "--events", str(SAMPLES / "major-performance-degradation.json"),
                "--model", "none", "--format", "json", cwd=repo)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert [c["event_id"] for c in doc["changed"]] == ["INC-2025-002"]
    assert doc["changed"][0]["base"]["rule"] == "latency-degraded"
    missing = rules("impact", "--base", "no-such-ref", "--events", str(SAMPLES), cwd=repo)
    assert missing.returncode == 2 and "cannot read" in missing.stderr and "no-such-ref" in missing.stderr


def test_markdown_stays_within_a_pr_comment() -> None:
    side = {"severity": "MAJOR", "rule": "r", "owner": "o", "pages": ["pagerduty"], "remediation": None,
            "suppressed": "none"}
    doc = {"events": 20000, "changed_events": 20000, "changes": {"severity": {"count": 20000, "examples": ["e1"]}},
           "pages_per_rule": {"r": {"base": 1, "head": 2}},
           "changed": [{"event_id": f"event-{i}", "kinds": ["severity"], "base": side, "head": side}
                       for i in range(20000)]}
    md = impact_report.markdown(doc, "base → head")
    assert len(md) < 65_536 and "more changed event(s) not shown" in md and md.rstrip().endswith("</details>")


def test_the_replay_without_messages_decides_as_the_daemons_decider(recorded: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """rules impact skips rendering message templates (a summary compares no message text): same summaries."""
    from engine.cli.options import load_compiled
    from engine.decide import Decider
    from engine.run.review import impact as im
    from engine.store import replay as audit_replay

    compiled = load_compiled(RULES, quiet_warnings=True)
    conn = audit_replay.open_readonly(recorded)
    items = [im.Item(r.kind, f"audit:{r.event_id}", r.payload, datetime.fromisoformat(r.at.replace("Z", "+00:00")),
                     r.event_id, r.model, r.decision_rowid) for r in audit_replay.recorded(conn)]
    state = im.verdicts_model(items)
    unrendered = im.replay(compiled, items, model=state, history_factory=lambda: im.RecordedHistory(conn))
    monkeypatch.setattr(im, "Unrendered", Decider)
    rendered = im.replay(compiled, items, model=state, history_factory=lambda: im.RecordedHistory(conn))
    assert len(unrendered) > 10 and unrendered == rendered
