"""A vendor that rate-limits (429 + Retry-After) or fails for a while: the retry backoff is the outbox's, not
a sleep in the loop, so intake, other actions and SIGTERM go on; retries stay bounded and recorded."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from daemon_kit import CLEAN_ENV, REPO, drop, event, wait_for
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response


def _page(i: int, service: str) -> dict:
    return {"event_id": f"INC-{i}", "timestamp": datetime.now(UTC).isoformat(), "source": "test",
            "service": service, "title": f"down {i}", "conditions": {"service_unavailable": True}}


def _one(db: Path, sql: str) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return int(conn.execute(sql).fetchone()[0])
    except sqlite3.Error:
        return -1
    finally:
        conn.close()


def test_a_rate_limiting_vendor_holds_up_neither_intake_nor_other_pages_nor_sigterm(
        tmp_path: Path, rules_copy: Path, httpserver: HTTPServer) -> None:
    keys: list[str] = []

    def handler(request: Request) -> Response:
        keys.append(json.loads(request.data)["dedup_key"])
        return Response("slow down", status=429, headers={"Retry-After": "30"})

    httpserver.expect_request("/v2/enqueue", method="POST").respond_with_handler(handler)
    spool, db, log = tmp_path / "spool", tmp_path / "audit.db", tmp_path / "daemon.log"
    (spool / "incoming").mkdir(parents=True)
    env = {**CLEAN_ENV, "PAGERDUTY_ROUTING_KEY": "R0UTING", "PAGERDUTY_EVENTS_URL": httpserver.url_for("/v2/enqueue")}
    cmd = [sys.executable, "-m", "engine.cli", "run", "--rules", str(rules_copy), "--db", str(db), "--spool",
           str(spool), "--interval", "0.05", "--reload-interval", "0"]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=open(log, "ab"))  # noqa: SIM115
    try:
        assert wait_for(lambda: '"event": "started"' in log.read_text(), 30)
        drop(spool / "incoming", "1-a.json", _page(1, "payment-api"))
        assert wait_for(lambda: len(keys) >= 1, 15), log.read_text()[-2000:]
        drop(spool / "incoming", "2-b.json", _page(2, "checkout"))
        drop(spool / "incoming", "3-c.json", event(3, metrics={"error_rate": 0.0}))  # pages nobody
        # decided, and the second incident paged, while the first page waits out its Retry-After
        assert wait_for(lambda: _one(db, "SELECT count(*) FROM decisions") == 3, 10), log.read_text()[-2000:]
        assert wait_for(lambda: len(set(keys)) == 2, 10), keys
        # the vendor saw the request before the daemon recorded its attempt: wait for the row, do not race it
        assert wait_for(lambda: _one(db, "SELECT count(*) FROM attempts WHERE reason = 'rateLimited' "
                                         "AND waited = 0") == 2, 10)
        assert len(keys) == 2, "a retry was sent before its Retry-After"
    finally:
        stopped = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
    assert code == 0
    assert time.monotonic() - stopped < 10, "SIGTERM waited for a retry backoff"
    # the retries were interrupted, not failed: no result, so they run again (from attempt 1) after a restart
    assert _one(db, "SELECT count(*) FROM results r JOIN actions a ON a.id = r.action_id "
                    "WHERE a.action = 'pagerduty' AND a.step = 0") == 0
    assert os.listdir(spool / "processing") == []


def test_once_still_drains_an_action_that_succeeds_after_retries(make_daemon, monkeypatch,
                                                                  httpserver: HTTPServer) -> None:
    answers = iter([Response("busy", status=503), Response("rate", status=429, headers={"Retry-After": "1"}),
                    Response(json.dumps({"status": "success"}), status=202)])
    httpserver.expect_request("/v2/enqueue", method="POST").respond_with_handler(lambda _: next(answers))
    monkeypatch.setenv("PAGERDUTY_ROUTING_KEY", "R0UTING")
    monkeypatch.setenv("PAGERDUTY_EVENTS_URL", httpserver.url_for("/v2/enqueue"))
    daemon = make_daemon()
    drop(daemon.spool.incoming, "1.json", _page(1, "payment-api"))
    stats = daemon.run_once()
    assert stats.actions[("pagerduty", "ok")] == 1
    rows = daemon.audit.conn.execute("SELECT t.attempt, t.ok, t.reason, t.waited FROM attempts t JOIN actions a "
                                     "ON a.id = t.action_id WHERE a.action = 'pagerduty' ORDER BY t.id").fetchall()
    assert [(n, ok, reason) for n, ok, reason, _ in rows] == [(1, 0, "serverError"), (2, 0, "rateLimited"),
                                                            (3, 1, None)]
    jitter = daemon.config.limits.rate_jitter  # the Retry-After plus its own jitter (no herd), recorded as the wait
    assert 1.0 <= rows[2][3] <= 1.0 + jitter
