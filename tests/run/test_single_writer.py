"""One daemon per database file, whatever name reaches it: the lock is on the file itself (its inode)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from daemon_kit import CLEAN_ENV, REPO, rules_cmd

from engine.run.daemon.lock import AlreadyRunning, acquire_lock


@pytest.mark.parametrize("link", ["symlink", "hard link"])
def test_a_second_name_for_the_same_database_is_refused(tmp_path: Path, link: str) -> None:
    db = tmp_path / "audit.db"
    held = acquire_lock(db)
    other_dir = tmp_path / "elsewhere"
    other_dir.mkdir()
    alias = other_dir / "alias.db"
    (os.symlink if link == "symlink" else os.link)(db, alias)
    try:
        with pytest.raises(AlreadyRunning, match=f"pid {os.getpid()}" if link == "symlink" else "pid"):
            acquire_lock(alias)
    finally:
        held.close()
    acquire_lock(alias).close()  # free again once the holder let go


def test_a_second_daemon_through_a_hard_link_exits_3(tmp_path: Path, rules_copy: Path) -> None:
    db = tmp_path / "audit.db"
    held = acquire_lock(db)  # the first daemon
    os.link(db, tmp_path / "same-inode.db")
    try:
        second = subprocess.run(rules_cmd("run", "--once", "--rules", str(rules_copy), "--db",
                                          str(tmp_path / "same-inode.db"), "--spool", str(tmp_path / "spool")),
                                cwd=REPO, env=CLEAN_ENV, capture_output=True, text=True, timeout=120)
    finally:
        held.close()
    assert second.returncode == 3, second.stderr[-2000:]
    assert "another daemon" in second.stderr and "Traceback" not in second.stderr
    assert db.stat().st_size == 0  # nothing was written through the second name
