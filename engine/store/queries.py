"""Read-only queries over an audit log, opened ``mode=ro`` (nothing is created, locked for writing or migrated).

The read side for reports (``engine/report/``) and for training on operators' verdicts.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from engine.model.errors import AuditError

_FEEDBACK_SQL = (
    "SELECT f.id, f.severity, e.payload FROM severity_feedback f JOIN events e ON e.event_id = f.event_id "
    "WHERE f.id = (SELECT MAX(g.id) FROM severity_feedback g WHERE g.event_id = f.event_id) ORDER BY f.id"
)




def read_only(db: Path | str) -> sqlite3.Connection:
    """A read-only connection to an existing audit log (AuditError if it cannot be opened)."""
    try:
        return sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise AuditError(f"cannot open audit log {db}: {exc}") from exc


def confirmed_severities(db: Path | str) -> list[tuple[Any, ...]]:
    """(feedback row id, severity, event payload JSON) of the newest operator verdict per event, oldest first."""
    try:
        conn = read_only(db)
        try:
            return conn.execute(_FEEDBACK_SQL).fetchall()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise AuditError(str(exc)) from exc
