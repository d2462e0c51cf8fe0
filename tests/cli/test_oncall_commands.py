"""Operator commands as real subprocesses: ``rules ack/resolve/incidents/incident show`` round-trip
through the audit log and reach a local PagerDuty stand-in exactly as an ack file would; the rules'
Git commit is recorded at load time and shown."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

from core_util import ROOT
from daemon_kit import wait_for
from pytest_httpserver import HTTPServer

EVENT = {"event_id": "INC-OPS-1", "timestamp": "2025-01-01T14:23:45Z", "source": "prometheus",
         "service": "payment-api", "title": "outage", "conditions": {"service_unavailable": True}}
BASE_ENV = {k: v for k, v in os.environ.items()
            if not k.startswith(("PAGERDUTY", "OPSGENIE", "SLACK", "TEAMS", "SMTP", "SENDGRID", "EMAIL", "AWS"))}


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
                          capture_output=True, text=True, check=True, timeout=60).stdout.strip()


def test_ack_resolve_and_the_incident_view_round_trip(tmp_path: Path, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v2/enqueue", method="POST").respond_with_json(
        {"status": "success", "message": "Event processed", "dedup_key": "INC-OPS-1"}, status=202)
    rules_dir = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules_dir)
    git(rules_dir, "init", "-q")
    git(rules_dir, "add", ".")
    git(rules_dir, "commit", "-qm", "policy")
    commit = git(rules_dir, "rev-parse", "HEAD")
    (tmp_path / "event.json").write_text(json.dumps(EVENT))
    env = {**BASE_ENV, "PYTHONPATH": str(ROOT), "PAGERDUTY_ROUTING_KEY": "R0UTING",
           "PAGERDUTY_EVENTS_URL": httpserver.url_for("/v2/enqueue")}
    db = tmp_path / "audit.db"

    def rules(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", "from engine.cli import entry; entry()", *args],
                              capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)

    common = ("--rules", str(rules_dir), "--db", str(db))
    assert rules("run", "--once", *common, "--spool", "spool", "--enqueue", "event.json").returncode == 0
    listed = rules("incidents", "--open", "--db", str(db))
    assert listed.returncode == 0
    assert listed.stdout.split()[:3] == ["INC-OPS-1", "open", "CRITICAL"]
    shown = rules("incident", "show", "INC-OPS-1", "--db", str(db))
    assert shown.returncode == 0, shown.stderr
    assert f"git {commit}" in shown.stdout
    assert "next: step 1 via pagerduty, slack → charlie@company.com at " in shown.stdout

    acked = rules("ack", "INC-OPS-1", "--by", "alice", *common)
    assert acked.returncode == 0, acked.stderr
    assert acked.stdout.startswith("INC-OPS-1: acknowledged by alice")
    view = json.loads(rules("incident", "show", "INC-OPS-1", "--db", str(db), "--format", "json").stdout)
    assert view["state"] == "acknowledged" and view["next"] == []
    assert [(u["type"], u["by"], u["source"]) for u in view["updates"]] == [("ack", "alice", "cli")]
    assert view["rules"] == {next(iter(view["rules"])): commit}

    assert rules("run", "--once", *common, "--spool", "spool").returncode == 0  # the upstream ack goes out
    assert rules("resolve", "INC-OPS-1", "--by", "alice", "--note", "rolled back", *common).returncode == 0
    assert rules("run", "--once", *common, "--spool", "spool").returncode == 0
    sent = [json.loads(req.data) for req, _ in httpserver.log]
    assert [(b["event_action"], b["dedup_key"]) for b in sent] == [
        ("trigger", "INC-OPS-1"), ("acknowledge", "INC-OPS-1"), ("resolve", "INC-OPS-1")]
    assert rules("incidents", "--open", "--db", str(db)).stdout.strip() == "no incidents open"
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT type, by, source, note FROM incident_updates ORDER BY id").fetchall() == [
        ("ack", "alice", "cli", ""), ("resolve", "alice", "cli", "rolled back")]
    for again in ("ack", "resolve"):  # a resolved incident: refused, nothing written
        late = rules(again, "INC-OPS-1", "--by", "bob", *common)
        said = late.stderr.strip()
        assert late.returncode == 1 and said.endswith(f"nothing to {again}")
        assert said.startswith("error: INC-OPS-1 is already resolved (by alice at 20")
        assert "+00:00" not in late.stderr
    assert conn.execute("SELECT count(*) FROM incident_updates").fetchone()[0] == 2

    unknown = rules("ack", "INC-NOPE", "--by", "alice", *common)
    assert unknown.returncode == 1
    assert unknown.stderr.strip().splitlines() == [
        "error: ack from cli by alice names no incident here (INC-NOPE)"]
    missing = rules("incidents", "--db", str(tmp_path / "typo.db"))
    assert (missing.returncode, missing.stderr.strip()) == (3, f"error: no audit log at {tmp_path / 'typo.db'} "
                                                            "(pass --db or set ESCALATION_DB)")
    assert not (tmp_path / "typo.db").exists()


def test_ack_while_a_daemon_holds_the_db_is_queued_in_its_spool_and_reaches_pagerduty(
        tmp_path: Path, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v2/enqueue", method="POST").respond_with_json(
        {"status": "success", "message": "Event processed", "dedup_key": "INC-OPS-1"}, status=202)
    env = {**BASE_ENV, "PYTHONPATH": str(ROOT), "PAGERDUTY_ROUTING_KEY": "R0UTING",
           "PAGERDUTY_EVENTS_URL": httpserver.url_for("/v2/enqueue")}
    db, spool = tmp_path / "audit.db", tmp_path / "spool"
    entry = [sys.executable, "-c", "from engine.cli import entry; entry()"]

    def rules(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*entry, *args], capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)

    def actions() -> list[str]:
        return [json.loads(req.data)["event_action"] for req, _ in httpserver.log]

    def updates() -> list[tuple[str, str, str]]:
        with sqlite3.connect(db) as conn:
            return conn.execute("SELECT type, by, source FROM incident_updates WHERE incident_id = 'INC-OPS-1'"
                                ).fetchall()

    daemon = subprocess.Popen([*entry, "run", "--rules", str(ROOT / "rules"), "--db", str(db), "--spool",
                               str(spool), "--interval", "0.05"], cwd=tmp_path, env=env,
                              stdout=subprocess.DEVNULL, stderr=open(tmp_path / "log", "ab"))  # noqa: SIM115
    try:
        assert wait_for(lambda: (spool / "incoming").is_dir() and db.is_file(), 60)
        (spool / "incoming" / ".e.tmp").write_text(json.dumps(EVENT))
        os.rename(spool / "incoming" / ".e.tmp", spool / "incoming" / "e.json")
        assert wait_for(lambda: actions() == ["trigger"], 60), (tmp_path / "log").read_text()[-2000:]

        wrong = rules("ack", "INC-OPS-1", "--by", "alice", "--db", str(db), "--spool", str(tmp_path / "elsewhere"))
        assert wrong.returncode == 1
        assert wrong.stderr.startswith(f"error: a daemon holds {db} but ")
        assert "Traceback" not in wrong.stderr

        acked = rules("ack", "INC-OPS-1", "--by", "alice", "--note", "looking", "--db", str(db), "--spool", str(spool))
        assert acked.returncode == 0, acked.stderr
        assert acked.stdout.startswith("INC-OPS-1: ack by alice queued for the running daemon")
        # the daemon takes the ack file like any other: recorded, and PagerDuty told
        assert wait_for(lambda: actions() == ["trigger", "acknowledge"], 60), (tmp_path / "log").read_text()[-2000:]
        assert updates() == [("ack", "alice", "cli")]
        assert wait_for(lambda: any(p.name.startswith("cli-ack-") for p in (spool / "done").iterdir()), 30)
    finally:
        daemon.terminate()
        assert daemon.wait(timeout=30) == 0
