"""Historical context: the audit log's recent decisions for a service → ``history.*`` facts.

Takes a service and the current event's timestamp (virtual time: the *event* clock, never the
wall clock, so a replay or ``rules simulate`` sees the same history as the live run) and
returns the block rules address as ``history.*``:

``history.critical_1h`` / ``major_1h`` / ``moderate_1h``   incidents in the last hour
``history.critical_24h`` / ``major_24h`` / ``moderate_24h`` in the last 24 hours
``history.critical_7d`` / ``major_7d`` / ``moderate_7d``    in the last 7 days
``history.last_severity``     severity of the service's latest incident (absent if none)
``history.seconds_since_last``  seconds from that incident to this event (absent if none)

An *incident* is a decision above NONE; several decisions with the same ``incident_id``
count once, at their severity. Windows are half-open, ``(t - window, t]``: an incident exactly
one hour before the event is outside ``_1h``. Events stamped after the current one (arrived
out of order) are not counted. sqlite is the truth, so the counts survive a restart; each
event costs two queries over the ``decisions (service, event_epoch)`` index.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime
from typing import Any

WINDOWS = (("1h", 3600), ("24h", 86400), ("7d", 7 * 86400))
COUNTED = ("CRITICAL", "MAJOR", "MODERATE")
HistoryProvider = Callable[[str, datetime], dict[str, Any]]

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
_NAMES = [f"{sev.lower()}_{name}" for name, _ in WINDOWS for sev in COUNTED]


class AuditHistory:
    """A :data:`HistoryProvider` reading the audit log's ``decisions`` table."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __call__(self, service: str, at: datetime) -> dict[str, Any]:
        params = {"service": service, "now": at.timestamp()}
        counts = self.conn.execute(_COUNT_SQL, params).fetchone()
        out: dict[str, Any] = {name: int(n) for name, n in zip(_NAMES, counts, strict=True)}
        last = self.conn.execute(_LAST_SQL, params).fetchone()
        if last is not None:
            out["last_severity"] = last[0]
            out["seconds_since_last"] = round(params["now"] - last[1], 3)
        return out
