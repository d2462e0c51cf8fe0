"""Read what an audit log recorded, for ``rules impact``: events, acks, model verdicts, history.

:func:`recorded` returns every accepted event and every ack/resolve in the order the daemon took
them, each with its intake time (the audit clock) and, for an event, the model verdict recorded
with its decision. :class:`RecordedDecisions` gives ``history.*`` as it was when each event was
decided: the recorded ``decisions`` rows written *before* that event's own row are copied, in
order, into an in-memory table, read through :class:`~engine.store.history.DecisionRows` (what
:class:`engine.decide.history.AuditHistory` reads).

The recorded database is opened read-only (``mode=ro``): a replay never writes to it.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from engine.model.errors import RulesError
from engine.store.history import DecisionRows


@dataclass(frozen=True)
class Recorded:
    kind: str  # event | ack | resolve
    at: str  # intake time (ISO, the audit clock)
    payload: bytes  # a canonical event or acknowledgement
    event_id: str
    model: tuple[str, float] | None = None  # the recorded verdict (label, confidence)
    decision_rowid: int | None = None


def open_readonly(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise RulesError(f"no audit log at {path}")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        conn.execute("SELECT 1 FROM events LIMIT 1")
    except sqlite3.Error as exc:
        raise RulesError(f"cannot read audit log {path}: {exc}") from None
    return conn


def recorded(conn: sqlite3.Connection) -> list[Recorded]:
    """Events (with their recorded verdict) and acks/resolves, in the order they were taken in."""
    items: list[tuple[str, int, Recorded]] = []
    rows = conn.execute(
        "SELECT e.event_id, e.at, e.payload, d.model_label, d.model_confidence, d.rowid FROM events e "
        "LEFT JOIN decisions d ON d.event_id = e.event_id ORDER BY e.rowid")
    for event_id, at, payload, label, confidence, drow in rows:
        model = (label, float(confidence)) if label is not None and confidence is not None else None
        items.append((at, 0, Recorded("event", at, payload.encode(), event_id, model, drow)))
    updates = conn.execute("SELECT event_id, incident_id, type, by, source, occurred_at, note, at "
                           "FROM incident_updates WHERE type IN ('ack', 'resolve') ORDER BY rowid")
    for event_id, incident_id, kind, by, source, occurred, note, at in updates:
        doc = {"type": kind, "event_id": event_id, "incident_id": incident_id, "by": by,
               "timestamp": occurred or at, "source": source or "manual", "note": note or ""}
        items.append((at, 1, Recorded(kind, at, json.dumps(doc).encode(), event_id)))
    items.sort(key=lambda t: (t[0], t[1]))  # stable: events keep rowid order within one instant
    return [r for _, _, r in items]


class RecordedDecisions:
    """The recorded ``decisions`` rows, fed in order up to a given row (see :meth:`advance`)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._rows = conn.execute("SELECT rowid, service, severity, incident_id, event_epoch FROM decisions "
                                  "ORDER BY rowid").fetchall()
        self._next = 0
        self.mem = sqlite3.connect(":memory:")
        self.mem.execute("CREATE TABLE decisions (service TEXT, severity TEXT, incident_id TEXT, event_epoch REAL)")
        self.mem.execute("CREATE INDEX idx_service_epoch ON decisions (service, event_epoch)")
        self.rows = DecisionRows(self.mem)

    def advance(self, before_rowid: int | None) -> None:
        """Copy the recorded rows written before ``before_rowid`` (None: none more)."""
        batch = []
        while (self._next < len(self._rows) and before_rowid is not None
               and self._rows[self._next][0] < before_rowid):
            batch.append(self._rows[self._next][1:])
            self._next += 1
        if batch:
            self.mem.executemany("INSERT INTO decisions VALUES (?, ?, ?, ?)", batch)
