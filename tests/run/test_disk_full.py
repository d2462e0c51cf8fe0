"""A full disk (or EIO) under the spool or the audit log: a clear error, /healthz 503 until writes succeed again,
retried about once a second, and nothing lost or decided twice once the space is back."""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import subprocess
from pathlib import Path

from daemon_kit import CLEAN_ENV, REPO, drop, event, rules_cmd

from engine.run.daemon.outbox import Stats


def test_a_full_spool_leaves_files_in_processing_and_they_finish_once_space_is_back(make_daemon, monkeypatch) -> None:
    daemon = make_daemon()
    full = True
    write_text = Path.write_text

    def enospc(self: Path, *args, **kwargs):  # the reason file is the one write the spool makes
        if full and self.parent == daemon.spool.failed:
            with open(self, "w"):  # created, then the disk is full: as a real ENOSPC leaves it
                pass
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))
        return write_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", enospc)
    drop(daemon.spool.incoming, "1-good.json", event(1))
    drop(daemon.spool.incoming, "2-bad.json", "{not json")
    drop(daemon.spool.incoming, "3-good.json", event(3))

    assert not daemon.step(Stats())  # no traceback out of the loop
    ok, body = daemon.health.report()
    assert not ok and "No space left on device" in body["spool_error"]
    assert sorted(os.listdir(daemon.spool.processing)) == ["1-good.json", "2-bad.json", "3-good.json"]
    assert os.listdir(daemon.spool.failed) == [], "no half-written reason file"

    full = False
    stats = daemon.run_once()
    assert daemon.health.report()[0]
    assert sorted(os.listdir(daemon.spool.done)) == ["1-good.json", "3-good.json"]
    assert sorted(os.listdir(daemon.spool.failed)) == ["2-bad.json", "2-bad.json.reason.json"]
    assert json.loads((daemon.spool.failed / "2-bad.json.reason.json").read_text())["code"] == "invalid-json"
    assert os.listdir(daemon.spool.processing) == [] and stats.done == 2
    assert daemon.audit.count("decisions") == 2 and daemon.audit.count("events") == 2


def test_a_full_audit_log_keeps_healthz_503_until_a_write_succeeds(make_daemon) -> None:
    daemon = make_daemon(chores_every=0.0)
    drop(daemon.spool.incoming, "0.json", event(0))
    daemon.run_once()
    pages = daemon.audit.conn.execute("PRAGMA page_count").fetchone()[0]
    daemon.audit.conn.execute(f"PRAGMA max_page_count = {pages}")  # SQLITE_FULL on the next page, as a full disk
    for i in range(1, 40):
        drop(daemon.spool.incoming, f"{i:02d}.json", event(i))

    assert not daemon.step(Stats())
    assert not daemon.health.db_writable and "full" in daemon.health.db_error
    daemon._chores()  # the idle check takes the write lock fine: that is no proof the disk has room
    assert not daemon.health.report()[0], "/healthz must stay 503 while writes fail"
    assert len(os.listdir(daemon.spool.processing)) == 39

    daemon.audit.conn.execute("PRAGMA max_page_count = 1073741823")  # space is back
    daemon.run_once()
    assert daemon.health.report()[0]
    assert os.listdir(daemon.spool.processing) == [] and len(os.listdir(daemon.spool.done)) == 40
    assert daemon.audit.count("decisions") == 40


def test_once_exits_3_when_the_audit_log_took_no_writes(tmp_path: Path, rules_copy: Path) -> None:
    db, spool = tmp_path / "a.db", tmp_path / "spool"
    args = ["run", "--rules", str(rules_copy), "--db", str(db), "--spool", str(spool), "--once"]
    subprocess.run(rules_cmd(*args), cwd=REPO, env=CLEAN_ENV, capture_output=True, timeout=120, check=True)
    drop(spool / "incoming", "1.json", event(1))
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock throughout
    try:
        locked = subprocess.run(rules_cmd(*args), cwd=REPO, env=CLEAN_ENV, capture_output=True, timeout=120)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert locked.returncode == 3, locked.stderr.decode()[-2000:]
    assert b"files left in" in locked.stderr and os.listdir(spool / "processing") == ["1.json"]
    again = subprocess.run(rules_cmd(*args), cwd=REPO, env=CLEAN_ENV, capture_output=True, timeout=120)
    assert again.returncode == 0 and os.listdir(spool / "processing") == [] and os.listdir(spool / "done") == ["1.json"]
