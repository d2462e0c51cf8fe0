"""SIGTERM with sends in flight: the daemon waits for them up to ``stop_grace``, records what finished, and
leaves what did not with its ``starts`` row and no result (sent again after the restart, never lost);
and the /metrics and /healthz views of the outbox."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from daemon_kit import CLEAN_ENV, REPO, drop, wait_for
from standin import Standin

from engine.run.daemon.outbox import Stats


def _page(i: int, service: str = "payment-api") -> dict[str, Any]:
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


@pytest.fixture
def pd(monkeypatch: pytest.MonkeyPatch) -> Any:
    s = Standin()
    monkeypatch.setenv("PAGERDUTY_ROUTING_KEY", "R0UTINGKEY")
    monkeypatch.setenv("PAGERDUTY_EVENTS_URL", f"{s.url}/v2/enqueue")
    yield s
    s.close()


def _until_in_flight(daemon: Any, n: int = 1) -> None:
    stats = Stats()
    assert wait_for(lambda: (daemon.step(stats), daemon.dispatcher.in_flight()["pagerduty"] >= n)[1], 20)


def test_stop_waits_for_sends_in_flight_and_records_them(make_daemon, pd: Standin) -> None:
    pd.latency = 0.3
    daemon = make_daemon(stop_grace=20.0)
    drop(daemon.spool.incoming, "1.json", _page(1))
    _until_in_flight(daemon)
    daemon.stop.set()
    assert daemon.drain(daemon.config.stop_grace) == []
    rows = daemon.audit.conn.execute("SELECT r.outcome FROM results r JOIN actions a ON a.id = r.action_id "
                                     "WHERE a.action = 'pagerduty'").fetchall()
    assert rows == [("ok",)]


def test_stop_past_its_grace_leaves_the_send_due_for_the_restart(make_daemon, pd: Standin, caplog) -> None:
    pd.hang.clear()
    daemon = make_daemon(stop_grace=0.2)
    drop(daemon.spool.incoming, "1.json", _page(1))
    _until_in_flight(daemon)
    (action_id,) = daemon.dispatcher.flights
    daemon.stop.set()
    with caplog.at_level("WARNING", logger="escalation_handlers.daemon"):
        assert daemon.drain(daemon.config.stop_grace) == [action_id]
    assert any(getattr(r, "event", "") == "unfinished" for r in caplog.records)
    audit = daemon.audit
    assert audit.conn.execute("SELECT count(*) FROM starts WHERE action_id = ?", (action_id,)).fetchone()[0] == 1
    assert action_id in {r["id"] for r in audit.pending_actions()}, "no result: sent again after the restart"
    pd.hang.set()
    restarted = make_daemon()
    restarted.run_once()
    assert restarted.audit.conn.execute("SELECT outcome FROM results WHERE action_id = ?",
                                        (action_id,)).fetchone() == ("ok",)
    keys = [b["dedup_key"] for b in pd.bodies() if b["event_action"] == "trigger"]
    assert keys == ["INC-1", "INC-1"], "at-least-once: the same dedup key, which the vendor folds into one alert"


def test_metrics_and_healthz_show_the_outbox_per_adapter(make_daemon, pd: Standin) -> None:
    pd.hang.clear()
    daemon = make_daemon()
    for i in range(3):
        drop(daemon.spool.incoming, f"{i}.json", _page(i, f"svc-{i}"))
    _until_in_flight(daemon, 3)
    daemon._next_observe = 0.0
    daemon._observe_queue()
    text = daemon.metrics.render().decode()
    assert 'escalation_outbox_in_flight{action="pagerduty"} 3.0' in text
    assert 'escalation_outbox_due{action="pagerduty"} 3.0' in text, "sent, no result yet: still due"
    assert 'escalation_outbox_oldest_due_seconds{action="pagerduty"}' in text
    assert 'escalation_outbox_circuit{action="pagerduty"} 0.0' in text
    assert daemon.health.report()[1]["circuits"] == {}
    pd.hang.set()
    daemon.stop.set()
    daemon.drain(20.0)


def test_sigterm_on_the_real_daemon_finishes_sends_in_flight(tmp_path: Path, rules_copy: Path) -> None:
    pd = Standin(latency=1.0)
    spool, db, log = tmp_path / "spool", tmp_path / "audit.db", tmp_path / "daemon.log"
    (spool / "incoming").mkdir(parents=True)
    env = {**CLEAN_ENV, "PAGERDUTY_ROUTING_KEY": "R0UTINGKEY", "PAGERDUTY_EVENTS_URL": f"{pd.url}/v2/enqueue"}
    cmd = [sys.executable, "-m", "engine.cli", "run", "--rules", str(rules_copy), "--db", str(db), "--spool",
           str(spool), "--interval", "0.05", "--reload-interval", "0"]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=open(log, "ab"))  # noqa: SIM115
    try:
        assert wait_for(lambda: '"event": "started"' in log.read_text(), 30)
        for i in range(5):
            drop(spool / "incoming", f"{i}.json", _page(i, f"svc-{i}"))
        assert wait_for(lambda: len(pd.bodies()) >= 5, 20), log.read_text()[-2000:]
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        pd.close()
    assert _one(db, "SELECT count(*) FROM results r JOIN actions a ON a.id = r.action_id "
                    "WHERE a.action = 'pagerduty' AND r.outcome = 'ok'") == 5, log.read_text()[-2000:]
    assert json.dumps("unfinished") not in log.read_text()
