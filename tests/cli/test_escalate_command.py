"""``rules escalate`` end to end: a running daemon pages the backup at once (a PagerDuty stand-in over HTTP
receives the step-1 trigger minutes before its timeout), the audit log records who escalated and why,
and ``rules metrics`` counts it as a manual escalation, apart from timeouts."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from core_util import ROOT
from daemon_kit import CLEAN_ENV, drop, wait_for
from standin import Standin


def test_a_manual_escalation_pages_the_backup_now_and_is_counted_apart(tmp_path: Path, rules_copy: Path) -> None:
    pagerduty = Standin(lambda _p, b: (202, {}, json.dumps({"status": "success", "dedup_key": b["dedup_key"]})))
    env = {**CLEAN_ENV, "PYTHONPATH": str(ROOT), "PAGERDUTY_ROUTING_KEY": "R0UTING",
           "PAGERDUTY_EVENTS_URL": f"{pagerduty.url}/v2/enqueue"}
    db, spool = tmp_path / "audit.db", tmp_path / "spool"
    common = ("--rules", str(rules_copy), "--db", str(db))

    def rules(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", "from engine.cli import entry; entry()", *args],
                              capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)

    def triggers() -> list[str]:
        return [b["dedup_key"] for _, _, b in list(pagerduty.received) if b.get("event_action") == "trigger"]

    now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    log = open(tmp_path / "daemon.log", "ab")  # noqa: SIM115 - closed below
    daemon = subprocess.Popen([sys.executable, "-c", "from engine.cli import entry; entry()", "run", *common,
                               "--spool", str(spool), "--interval", "0.05"], cwd=tmp_path, env=env,
                              stdout=subprocess.DEVNULL, stderr=log)
    try:
        assert wait_for(lambda: (spool / "incoming").is_dir(), 30), (tmp_path / "daemon.log").read_text()
        drop(spool / "incoming", "outage.json", {
            "event_id": "INC-ESC-1", "timestamp": now, "source": "prometheus", "service": "payment-api",
            "title": "outage", "conditions": {"service_unavailable": True}})
        assert wait_for(lambda: triggers() == ["INC-ESC-1"], 60), (tmp_path / "daemon.log").read_text()

        asked = time.monotonic()
        out = rules("escalate", "INC-ESC-1", "--by", "alice", "--reason", "needs the database team", *common,
                    "--spool", str(spool))
        assert out.returncode == 0, out.stderr
        assert out.stdout.startswith("INC-ESC-1: escalate by alice queued for the running daemon")
        assert wait_for(lambda: "INC-ESC-1.step-1" in triggers(), 60), (tmp_path / "daemon.log").read_text()
        arrived = next(t for t, _, b in pagerduty.received if b.get("dedup_key") == "INC-ESC-1.step-1")
        assert arrived - asked < 60 < 300  # the team's escalation_delay is 300 s: this was the escalation
        assert triggers() == ["INC-ESC-1", "INC-ESC-1.step-1"]  # the backup once, the primary not again

        report = rules("metrics", "--db", str(db), "--format", "json", "--window", "1d")  # while the daemon runs
        assert report.returncode == 0, report.stderr
        overall = next(s for s in json.loads(report.stdout)["data"]["metrics"]
                       if s["metric"] == "escalation" and s["by"] == "overall")
        assert (overall["n"], overall["timeout"], overall["manual"], overall["manual_ids"]) == (
            1, 0, 1, ["INC-ESC-1"])
        assert overall["rate"] == 0.0  # the timeout rate: nobody waited for a timeout
    finally:
        daemon.terminate()
        assert daemon.wait(timeout=30) == 0
        log.close()
        pagerduty.close()

    conn = sqlite3.connect(db)
    assert conn.execute("SELECT type, by, source, note FROM incident_updates").fetchall() == [
        ("escalate", "alice", "cli", "needs the database team")]
    superseded = conn.execute("SELECT a.action, r.detail FROM results r JOIN actions a ON a.id = r.action_id "
                              "WHERE r.outcome = 'superseded' ORDER BY a.id").fetchall()
    assert [a for a, _ in superseded] == ["pagerduty", "slack"]  # the scheduled step-1 rows, replaced
    assert all(d.startswith("escalated by alice (needs the database team): due now as action #") for _, d in superseded)
    conn.close()

    # without a daemon the command answers at once, in one line
    again = rules("escalate", "INC-ESC-1", "--by", "bob", *common)
    assert (again.returncode, again.stderr.strip()) == (
        1, "error: INC-ESC-1: every step (0, 1) is due already; pass --to STEP to page one again")
    unknown = rules("escalate", "INC-NOPE", "--by", "bob", *common)
    assert (unknown.returncode, unknown.stderr.strip()) == (
        1, "error: escalate from cli by bob names no incident here (INC-NOPE)")
    assert rules("resolve", "INC-ESC-1", "--by", "bob", *common).returncode == 0
    resolved = rules("escalate", "INC-ESC-1", "--by", "bob", "--to", "1", *common)
    assert (resolved.returncode, resolved.stderr.strip()) == (1, "error: INC-ESC-1 is resolved: nothing to escalate")


def test_an_acknowledged_incident_can_still_be_escalated(tmp_path: Path, rules_copy: Path) -> None:
    """The responder acked, then asks for help: the backup is paged; the ack still stops the timeout."""
    pagerduty = Standin(lambda _p, b: (202, {}, json.dumps({"status": "success", "dedup_key": b["dedup_key"]})))
    env = {**CLEAN_ENV, "PYTHONPATH": str(ROOT), "PAGERDUTY_ROUTING_KEY": "R0UTING",
           "PAGERDUTY_EVENTS_URL": f"{pagerduty.url}/v2/enqueue"}
    common = ("--rules", str(rules_copy), "--db", str(tmp_path / "audit.db"))

    def rules(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", "from engine.cli import entry; entry()", *args],
                              capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)

    now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    (tmp_path / "event.json").write_text(json.dumps({
        "event_id": "INC-ESC-2", "timestamp": now, "source": "prometheus", "service": "payment-api",
        "title": "outage", "conditions": {"service_unavailable": True}}))
    try:
        assert rules("run", "--once", *common, "--spool", "spool", "--enqueue", "event.json").returncode == 0
        assert rules("ack", "INC-ESC-2", "--by", "alice", *common).returncode == 0
        out = rules("escalate", "INC-ESC-2", "--by", "alice", "--reason", "need a second pair of hands", *common)
        assert out.returncode == 0, out.stderr
        assert out.stdout.startswith("INC-ESC-2: escalated by alice; step 1 (pagerduty, slack → ")
        assert rules("run", "--once", *common, "--spool", "spool").returncode == 0
        sent = [(b["event_action"], b["dedup_key"]) for _, _, b in pagerduty.received]
        # the step-1 page and the upstream ack went out in the same run (pages first); the ack did not stop it
        assert sorted(sent) == [("acknowledge", "INC-ESC-2"), ("trigger", "INC-ESC-2"), ("trigger", "INC-ESC-2.step-1")]
    finally:
        pagerduty.close()


def test_without_a_daemon_a_due_step_is_said_to_wait_for_the_next_run(tmp_path: Path) -> None:
    """Escalated with no daemon running: the step is due but unsent, and the commands say who sends it."""
    def rules(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "engine.cli", *args], capture_output=True, text=True,
                              timeout=120, cwd=tmp_path, env={**CLEAN_ENV, "PYTHONPATH": str(ROOT)})

    db = ("--db", str(tmp_path / "e.db"))
    assert rules("run", "--once", "--enqueue", str(ROOT / "sample-events"), *db).returncode == 0
    first = rules("escalate", "INC-2025-003", "--by", "alice", *db)
    assert first.returncode == 0 and "step 1 (slack → " in first.stdout and "next rules run" in first.stdout
    again = rules("escalate", "INC-2025-003", "--by", "alice", *db)
    assert (again.returncode, again.stderr.strip()) == (1, (
        "error: INC-2025-003: every step (0, 1) is due already (step 1 due but not sent yet: the running daemon "
        "or the next rules run pages it); pass --to STEP to page one again"))
    to = rules("escalate", "INC-2025-003", "--by", "alice", "--to", "1", *db)
    assert to.returncode == 0 and to.stdout.strip().endswith(
        "its step was already due (sent by the running daemon, or by the next rules run if none runs)")
