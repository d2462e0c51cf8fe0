"""The SQL behind ``history.*`` facts (engine.decide.history keeps the in-memory index over it).

The catch-up anchor is sqlite's ``rowid``: :meth:`DecisionRows.since` re-reads the anchor row with the
rows after it, so a rollback that removed it (its rowid may be reused) is noticed by the caller.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from engine.model.history import COUNTED, WINDOWS
from engine.store.errors import translate_errors

_COUNTS = ", ".join(
    f"COUNT(DISTINCT CASE WHEN severity = '{sev}' AND event_epoch > :now - {secs} THEN incident_id END)"
    for _, secs in WINDOWS
    for sev in COUNTED
)
_COUNT_SQL = (
    f"SELECT {_COUNTS} FROM decisions "
    f"WHERE service = :service AND event_epoch > :now - {WINDOWS[-1][1]} AND event_epoch <= :now"
)
_LAST_SQL = (
    "SELECT severity, event_epoch FROM decisions WHERE service = :service AND event_epoch <= :now "
    "AND severity != 'NONE' ORDER BY event_epoch DESC, rowid DESC LIMIT 1"
)
_ROWS_FROM = ("SELECT rowid, service, severity, incident_id, event_epoch FROM decisions "
              "WHERE rowid >= ? ORDER BY rowid")
_NEWEST_ROW = "SELECT rowid, service, severity, incident_id, event_epoch FROM decisions ORDER BY rowid DESC LIMIT 1"


@translate_errors
class DecisionRows:
    """Reads of the ``decisions`` table on the audit log's connection; ``before_read`` writes late rows first."""

    def __init__(self, conn: sqlite3.Connection, before_read: Callable[[], None] | None = None,
                 path: str = "") -> None:
        self.conn, self.path = conn, path
        self._before_read = before_read or (lambda: None)

    def newest(self) -> tuple[Any, ...] | None:
        self._before_read()
        row = self.conn.execute(_NEWEST_ROW).fetchone()
        return tuple(row) if row is not None else None

    def since(self, rowid: int) -> list[tuple[Any, ...]]:
        """The row at ``rowid`` (if still there) and every row after it, in rowid order."""
        self._before_read()
        return self.conn.execute(_ROWS_FROM, (rowid,)).fetchall()

    def of_service(self, service: str, after: float) -> list[tuple[str, str, float]]:
        """(severity, incident_id, event_epoch) of the service's rows after ``after``, oldest first."""
        self._before_read()
        return self.conn.execute(
            "SELECT severity, incident_id, event_epoch FROM decisions WHERE service = ? AND event_epoch > ? "
            "ORDER BY event_epoch, rowid", (service, after)).fetchall()

    def last_incident(self, service: str, now: float) -> tuple[str, float] | None:
        self._before_read()
        row = self.conn.execute(_LAST_SQL, {"service": service, "now": now}).fetchone()
        return (row[0], row[1]) if row is not None else None

    def counts(self, service: str, now: float) -> tuple[int, ...]:
        """Distinct incidents per (window, severity), in ``WINDOWS`` × ``COUNTED`` order."""
        self._before_read()
        return tuple(self.conn.execute(_COUNT_SQL, {"service": service, "now": now}).fetchone())
