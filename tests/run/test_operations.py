"""Single-writer lock, SIGHUP reload, JSON logs, retention of done/, bounded batches from a large incoming/."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
import tracemalloc
from pathlib import Path

import pytest
from daemon_kit import CLEAN_ENV, REPO, drop, event, rules_cmd, start, wait_for

from engine.model.errors import AuditError
from engine.run.daemon.lock import AlreadyRunning, acquire_lock
from engine.run.daemon.spool import Spool


def test_second_lock_on_the_same_db_is_refused(tmp_path: Path) -> None:
    held = acquire_lock(tmp_path / "a.db")
    with pytest.raises(AlreadyRunning, match=str(os.getpid())):
        acquire_lock(tmp_path / "a.db")
    held.close()
    acquire_lock(tmp_path / "a.db").close()  # released with its holder


def test_an_unusable_db_location_is_an_audit_error_not_a_traceback(tmp_path: Path) -> None:
    """README: exit 3 for a runtime failure such as an unwritable audit log (the lock sits beside it)."""
    (tmp_path / "file").write_text("")
    with pytest.raises(AuditError, match="cannot open audit log") as caught:
        acquire_lock(tmp_path / "file" / "a.db")
    assert caught.value.exit_code == 3


def test_second_daemon_exits_3_and_sighup_reloads_and_logs_are_json(tmp_path: Path, rules_copy: Path) -> None:
    db, log = tmp_path / "a.db", tmp_path / "log"
    args = ["run", "--rules", str(rules_copy), "--db", str(db), "--spool", str(tmp_path / "spool"),
            "--interval", "0.05", "--reload-interval", "0"]
    proc = start(args, log)
    try:
        assert wait_for(lambda: log.exists() and '"event": "started"' in log.read_text(), 30)
        second = subprocess.run(rules_cmd(*args), cwd=REPO, env=CLEAN_ENV, capture_output=True, timeout=60)
        assert second.returncode == 3
        assert b"another daemon" in second.stderr
        # --reload-interval 0: only SIGHUP reloads
        path = rules_copy / "severity.yaml"
        path.write_text(path.read_text() + "\n# edited\n")
        proc.send_signal(signal.SIGHUP)
        assert wait_for(lambda: '"event": "reloaded"' in log.read_text(), 30)
        drop(tmp_path / "spool" / "incoming", "1.json", event(1))

        def decided() -> bool:
            with sqlite3.connect(db) as conn:
                return conn.execute("SELECT count(*) FROM decisions").fetchone()[0] == 1
        assert wait_for(decided, 15)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert {"started", "reloaded", "stopped"} <= {line.get("event") for line in lines}
    (started,) = [line for line in lines if line.get("event") == "started"]
    assert started["model_warm_ms"] >= 0  # the model's batch path was loaded before the first file
    assert all({"ts", "level", "logger", "msg"} <= set(line) for line in lines)


def test_done_is_pruned_after_the_retention_period(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.ensure()
    (spool.done / "old.json").write_text("{}")
    (spool.failed / "bad.json").write_text("{")
    assert spool.prune_done(7, now=time.time()) == 0
    assert spool.prune_done(7, now=time.time() + 8 * 86400) == 1
    assert os.listdir(spool.done) == [] and os.listdir(spool.failed) == ["bad.json"]  # failed/ is kept


def test_a_large_incoming_is_taken_in_name_order_in_bounded_batches(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.ensure()
    names = [f"{i:08d}.json" for i in range(20_000)]
    for name in reversed(names):
        (spool.incoming / name).touch()
    (spool.incoming / ".00000000-writing.tmp").touch()
    tracemalloc.start()
    batch = spool.scan(100)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert batch == names[:100]
    assert peak < 512 * 1024, f"{peak} bytes to pick 100 of 20,000 names"
    assert spool.depth() == 20_000


def test_an_action_whose_successful_attempt_was_recorded_is_not_sent_again(make_daemon) -> None:
    """Killed between the attempt row and the result row: the result comes from the attempt."""
    from types import SimpleNamespace

    daemon = make_daemon()
    result = daemon.pipeline.process("e.json", json.dumps(event(1, metrics={"error_rate": 0.9})).encode())
    assert result.ok
    action_id, rules_hash = daemon.audit.conn.execute("SELECT id, rules_hash FROM actions ORDER BY id").fetchone()
    attempt = SimpleNamespace(number=1, ok=True, detail="202 accepted", reason=None, retryable=False, status=202,
                              waited=0.0)
    daemon.audit.record_attempt(action_id, attempt, rules_hash)

    daemon.run_once()

    rows = daemon.audit.conn.execute("SELECT outcome, detail FROM results WHERE action_id = ?", (action_id,)).fetchall()
    assert len(rows) == 1 and rows[0][0] == "ok" and "before a restart" in rows[0][1]
    assert daemon.audit.count("attempts", "action_id = ?", (action_id,)) == 1  # never sent a second time
