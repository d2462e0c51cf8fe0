"""Storm intake (engine/run/daemon/triage.py) through the real ``rules run``: a CRITICAL file that arrives behind a
backlog is decided ahead of it, after its service's earlier files; nothing is lost, also across a SIGKILL.

The bound is the mechanism's, in files, not seconds: with ``--triage-every 0`` the triage lists ``incoming/``
before every batch, so the CRITICAL file is claimed at the latest in the second batch after its arrival — at most
two batches (``--batch``) of backlog are decided after it arrived and before it. Without triage it is last."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from daemon_kit import CLEAN_ENV, REPO, drop, wait_for

BACKLOG, BATCH = 4000, 100
SAME_SERVICE = (7, 1900, 3800)  # backlog files of the CRITICAL file's service, earlier in name order
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _event(i: int, service: str, **extra: object) -> dict:
    return {"event_id": f"E{i:05d}", "timestamp": (T0 + timedelta(seconds=i)).isoformat(), "source": "test",
            "service": service, "environment": "production", "title": f"event {i}",
            "metrics": {"error_rate": 0.0}, **extra}


def _rows(db: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    except sqlite3.Error:
        return []
    finally:
        conn.close()


def _done(spool: Path) -> int:
    return len(os.listdir(spool / "done")) if (spool / "done").is_dir() else 0


@pytest.mark.parametrize("triage", [True, False], ids=["triage", "name-order"])
def test_a_critical_file_behind_a_backlog_is_decided_ahead_of_it(tmp_path: Path, rules_copy: Path,
                                                                 triage: bool) -> None:
    spool, db, log = tmp_path / "spool", tmp_path / "audit.db", tmp_path / "daemon.log"
    incoming = spool / "incoming"
    incoming.mkdir(parents=True)
    for i in range(BACKLOG):
        drop(incoming, f"b-{i:05d}.json", _event(i, "payment-api" if i in SAME_SERVICE else f"svc-{i % 7}"))
    cmd = [sys.executable, "-m", "engine.cli", "run", "--rules", str(rules_copy), "--db", str(db), "--spool",
           str(spool), "--batch", str(BATCH), "--reload-interval", "0", "--triage-every", "0", "--triage-budget", "60",
           *([] if triage else ["--no-triage"])]
    proc = subprocess.Popen(cmd, cwd=REPO, env=CLEAN_ENV, stdout=subprocess.DEVNULL, stderr=open(log, "ab"))  # noqa: SIM115
    try:
        assert wait_for(lambda: _done(spool) >= 1, 60), log.read_text()[-2000:]
        drop(incoming, "c-critical.json", _event(BACKLOG, "payment-api", conditions={"service_unavailable": True}))
        done_at_arrival = _done(spool)  # at least what was decided when it arrived
        assert wait_for(lambda: _rows(db, f"SELECT 1 FROM events WHERE event_id = 'E{BACKLOG:05d}'"), 120), \
            log.read_text()[-2000:]
        if triage:
            os.kill(proc.pid, signal.SIGKILL)  # mid-backlog: what was claimed is recovered, nothing is lost
            proc.wait(timeout=30)
            subprocess.run([*cmd, "--once"], cwd=REPO, env=CLEAN_ENV, capture_output=True, timeout=300, check=True)
        else:
            assert wait_for(lambda: _done(spool) == BACKLOG + 1, 300)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    order = [event_id for (event_id,) in _rows(db, "SELECT event_id FROM events ORDER BY rowid")]
    assert sorted(order) == [f"E{i:05d}" for i in range(BACKLOG + 1)], "every event decided exactly once"
    assert _done(spool) == BACKLOG + 1 and os.listdir(spool / "processing") == []
    ahead = order.index(f"E{BACKLOG:05d}")  # backlog events decided before the CRITICAL one
    if not triage:
        assert ahead == BACKLOG, "without triage the CRITICAL file waits for the whole backlog"
        return
    assert ahead <= done_at_arrival + 2 * BATCH + len(SAME_SERVICE), (ahead, done_at_arrival)  # + promoted with it
    # its service's earlier files came first (per-service order), in name order
    same = [order.index(f"E{i:05d}") for i in SAME_SERVICE]
    assert same == sorted(same) and max(same) < ahead
    severity = _rows(db, f"SELECT severity FROM decisions WHERE event_id = 'E{BACKLOG:05d}'")
    assert severity == [("CRITICAL",)]
