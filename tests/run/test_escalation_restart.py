"""Durable escalation timers: ``rules run`` killed with SIGKILL between the primary page and the
backup's due time, then started again, pages the backup once, not before escalation_delay."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

ROOT = Path(__file__).resolve().parents[2]
DELAY = 3


def start_daemon(rules: Path, tmp: Path, server: HTTPServer) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "OPSGENIE_", "AWS_", "PAGERDUTY_"))}
    env.update(PAGERDUTY_ROUTING_KEY="R0UTING", PAGERDUTY_EVENTS_URL=server.url_for("/v2/enqueue"),
               LOG_LEVEL="WARNING")
    cmd = [sys.executable, "-m", "engine.cli", "run", "--rules", str(rules), "--db", str(tmp / "audit.db"),
           "--spool", str(tmp / "spool"), "--interval", "0.2", "--reload-interval", "0"]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=open(tmp / "stderr.log", "ab"))


def wait_for(predicate, timeout: float, proc: subprocess.Popen, tmp: Path) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert proc.poll() is None, (tmp / "stderr.log").read_text()[-3000:]
        assert time.monotonic() < deadline, "timed out; daemon stderr:\n" + (tmp / "stderr.log").read_text()[-3000:]
        time.sleep(0.05)


def primary_recorded(db: Path) -> bool:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return conn.execute("SELECT count(*) FROM results r JOIN actions a ON a.id = r.action_id "
                            "WHERE a.kind = 'page' AND a.step = 0 AND r.outcome = 'ok'").fetchone()[0] > 0


def test_backup_page_survives_sigkill_and_fires_once_after_the_delay(policy_copy, httpserver: HTTPServer,
                                                                    tmp_path: Path):
    arrivals: list[tuple[float, dict]] = []

    def handler(request: Request) -> Response:
        arrivals.append((time.monotonic(), json.loads(request.data)))
        return Response(json.dumps({"status": "success"}), status=202, content_type="application/json")

    httpserver.expect_request("/v2/enqueue", method="POST").respond_with_handler(handler)
    rules = policy_copy(**{"escalation-matrix": ("    escalation_delay: 300  # 5 minutes\n",
                                                f"    escalation_delay: {DELAY}\n")})

    def steps(n: int) -> list[float]:
        return [t for t, b in arrivals if b.get("payload", {}).get("custom_details", {})
                .get("escalation", {}).get("step") == n]

    first = start_daemon(rules, tmp_path, httpserver)
    try:
        incoming = tmp_path / "spool" / "incoming"
        wait_for(incoming.is_dir, 30, first, tmp_path)
        event = {"event_id": "INC-RESTART-1", "timestamp": datetime.now(UTC).isoformat(), "source": "test",
                 "service": "payment-api", "title": "down", "conditions": {"service_unavailable": True}}
        (incoming / ".event.json.tmp").write_text(json.dumps(event))
        dropped = time.monotonic()
        os.rename(incoming / ".event.json.tmp", incoming / "event.json")
        wait_for(lambda: steps(0), 30, first, tmp_path)
        # Killed once the primary page's result is committed: a kill between the send and that commit
        # resends it on restart (at-least-once; PagerDuty folds the repeat by dedup_key), which is not
        # what this test is about.
        wait_for(lambda: primary_recorded(tmp_path / "audit.db"), 30, first, tmp_path)
        assert time.monotonic() - dropped < DELAY, "primary page too slow to test a kill before the delay"
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        killed = time.monotonic()
        assert steps(1) == []
    finally:
        if first.poll() is None:
            first.kill()
    second = start_daemon(rules, tmp_path, httpserver)
    try:
        wait_for(lambda: steps(1), 30, second, tmp_path)
        time.sleep(1.0)  # a few more 0.2 s cycles: a duplicate would show up here
        backup = steps(1)
        assert len(backup) == 1 and len(steps(0)) == 1, arrivals
        assert backup[0] - dropped >= DELAY, f"backup paged {backup[0] - dropped:.2f} s after the event"
        assert killed < backup[0]
        body = next(b for t, b in arrivals if t == backup[0])
        assert body["payload"]["custom_details"]["escalation"] == {"step": 1, "targets": ["charlie@company.com"]}
        assert body["dedup_key"] == "INC-RESTART-1.step-1"  # its own alert: PagerDuty would fold it into step 0
        triggers = [b for _, b in arrivals if b["event_action"] == "trigger"]
        assert len(triggers) == 2, arrivals
        print(f"primary +{steps(0)[0] - dropped:.2f}s, killed +{killed - dropped:.2f}s, "
              f"backup +{backup[0] - dropped:.2f}s after the event file was dropped")
    finally:
        second.send_signal(signal.SIGTERM)
        try:
            second.wait(10)
        except subprocess.TimeoutExpired:
            second.kill()
