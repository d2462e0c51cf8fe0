"""Every audit row of one incident, for its timeline (engine/report/timeline.py): indexed reads only.

Rows come back as dicts, in the order they were written. Times are the engine's clock (``at``):
a suppression or incident-state row carries the *event's* time in its ``at``, so it is given the
``at`` of its event's intake row as ``received_at`` too.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from engine.store.readonly import has_table


def _rows(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
    cur = conn.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur]


def _marks(values: list[Any]) -> str:
    return ", ".join("?" * len(values))


_RECEIVED = "(SELECT min(n.at) FROM intake n WHERE n.event_id = {}.event_id AND n.outcome = 'accepted')"


def incident_rows(conn: sqlite3.Connection, incident_id: str) -> dict[str, list[dict[str, Any]]]:
    """``decisions`` (joined with events and intake), ``facts``, ``firings``, ``suppressions``,
    ``incidents``, ``actions``, ``starts``, ``attempts``, ``results`` and ``updates`` of one incident."""
    out: dict[str, list[dict[str, Any]]] = {}
    out["decisions"] = _rows(conn, (
        "SELECT d.event_id, d.service, d.severity, d.confidence, d.owner, d.escalation, d.remediation, d.fired_rules, "
        "d.model_version, d.model_label, d.model_confidence, d.rules_hash, d.at, d.event_epoch, "
        "e.timestamp, e.source, e.status, " + _RECEIVED.format("d") + " AS received_at, "
        "(SELECT n.file FROM intake n WHERE n.event_id = d.event_id AND n.outcome = 'accepted' ORDER BY n.id "
        "LIMIT 1) AS file FROM decisions d LEFT JOIN events e ON e.event_id = d.event_id "
        "WHERE d.incident_id = ? AND d.incident_id != '' ORDER BY d.rowid"), (incident_id,))
    ids = [d["event_id"] for d in out["decisions"]]
    out["facts"] = _rows(conn, f"SELECT event_id, kind, fact FROM facts WHERE event_id IN ({_marks(ids)}) "
                               "ORDER BY id", tuple(ids)) if ids else []
    out["firings"] = _rows(conn, f"SELECT event_id, seq, rule, stage, selected FROM firings WHERE event_id IN "
                                 f"({_marks(ids)}) ORDER BY id", tuple(ids)) if ids else []
    for table, cols in (("suppressions", "s.event_id, s.outcome, s.mechanism, s.reason, s.at"),
                        ("incidents", "s.op, s.event_id, s.severity, s.reason, s.at")):
        out[table] = _rows(conn, f"SELECT {cols}, {_RECEIVED.format('s')} AS received_at FROM {table} s "
                                 "WHERE s.incident_id = ? ORDER BY s.id", (incident_id,)) \
            if has_table(conn, table) else []
    out["actions"] = _rows(conn, "SELECT id, action, kind, step, due_at, intent, at, rules_hash FROM actions "
                                 "WHERE incident_id = ? ORDER BY id", (incident_id,))
    aids = [a["id"] for a in out["actions"]]
    for table, cols in (("starts", "action_id, attempt, at"),
                        ("attempts", "action_id, attempt, ok, detail, reason, retryable, status, waited, at"),
                        ("results", "action_id, outcome, detail, reason, at")):
        out[table] = _rows(conn, f"SELECT {cols} FROM {table} WHERE action_id IN ({_marks(aids)}) ORDER BY id",
                           tuple(aids)) if aids else []
    out["updates"] = _rows(conn, "SELECT event_id, type, by, source, occurred_at, note, at FROM incident_updates "
                                 "WHERE incident_id = ? ORDER BY id", (incident_id,))
    return out
