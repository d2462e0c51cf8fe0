"""A read-only connection to the audit log: what every report reads through.

``mode=ro`` in a ``file:`` URI: sqlite refuses every write on it, so a report cannot change the
log even by mistake, and it reads a WAL database while the daemon writes (readers never block
the writer). A missing file is an error, not a new empty log.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import quote

from engine.model.errors import AuditError


def no_audit_log(path: str | Path) -> str:
    """What every reader says of a missing audit log."""
    return f"no audit log at {path} (pass --db or set ESCALATION_DB)"


def connect_ro(path: str | Path) -> sqlite3.Connection:
    """Open ``path`` read-only; :class:`AuditError` (one line) when it is missing or not a database."""
    p = Path(path)
    if not p.is_file():
        raise AuditError(no_audit_log(p))
    try:
        conn = sqlite3.connect(f"file:{quote(str(p.resolve()))}?mode=ro", uri=True, check_same_thread=False)
        conn.execute("PRAGMA query_only=ON")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error as exc:
        raise AuditError(f"cannot read audit log {p}: {exc}") from exc
    return conn


def has_table(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone() is not None
