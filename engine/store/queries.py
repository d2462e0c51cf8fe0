"""Read-only queries over an audit log, opened ``mode=ro`` (nothing is created, locked for writing or migrated).

The read side for reports (``engine/report/``) and for training on operators' verdicts.
"""

from __future__ import annotations

import json
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


def _rows(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    cur = conn.execute(sql, params)
    names = [c[0] for c in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _state(updates: list[dict[str, Any]]) -> str:
    types = {u["type"] for u in updates}
    return "resolved" if "resolve" in types else "acknowledged" if "ack" in types else "open"


def incidents(db: Path | str) -> list[dict[str, Any]]:
    """Every incident the log decided, oldest first: id, service, severity, opened, state, last update."""
    try:
        conn = read_only(db)
        try:
            rows = _rows(conn, "SELECT incident_id, service, severity, MIN(at) AS opened, COUNT(*) AS events "
                               "FROM decisions WHERE incident_id IS NOT NULL AND incident_id != '' "
                               "GROUP BY incident_id ORDER BY opened")
            updates: dict[str, list[dict[str, Any]]] = {}
            for u in _rows(conn, "SELECT incident_id, type, by, source, at FROM incident_updates ORDER BY id"):
                updates.setdefault(u["incident_id"], []).append(u)
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise AuditError(f"cannot read audit log {db}: {exc}") from exc
    for row in rows:
        mine = updates.get(row["incident_id"], [])
        row["state"] = _state(mine)
        row["last_update"] = mine[-1] if mine else None
    return rows


def incident(db: Path | str, incident_id: str) -> dict[str, Any] | None:
    """One incident: its decisions, acks/resolves, every page and action with its result, the rules'
    Git commit per rules_hash, and the pages still due (who is paged next and when). None if unknown."""
    if not incident_id:  # the decisions that opened no incident hold '': not one incident
        return None
    try:
        conn = read_only(db)
        try:
            decisions = _rows(conn, "SELECT event_id, service, severity, owner, at, rules_hash FROM decisions "
                                    "WHERE incident_id = ? ORDER BY at", (incident_id,))
            if not decisions:
                return None
            updates = _rows(conn, "SELECT type, by, source, occurred_at, note, at FROM incident_updates "
                                  "WHERE incident_id = ? ORDER BY id", (incident_id,))
            actions = _rows(conn, "SELECT a.id, a.action, a.kind, a.step, a.due_at, a.intent, r.outcome, r.detail "
                                  "FROM actions a LEFT JOIN results r ON r.action_id = a.id "
                                  "WHERE a.incident_id = ? ORDER BY a.due_at, a.id", (incident_id,))
            hashes = sorted({d["rules_hash"] for d in decisions})
            marks = ", ".join("?" for _ in hashes)
            known = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'rules_versions'").fetchone()
            commits = dict(conn.execute(f"SELECT rules_hash, git_commit FROM rules_versions WHERE rules_hash IN "
                                        f"({marks}) ORDER BY id", hashes).fetchall()) if known else {}
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise AuditError(f"cannot read audit log {db}: {exc}") from exc
    for a in actions:
        a["targets"] = json.loads(a.pop("intent")).get("targets", [])
    state = _state(updates)
    upcoming = [a for a in actions if a["kind"] == "page" and a["outcome"] is None] if state == "open" else []
    return {"incident_id": incident_id, "state": state, "service": decisions[0]["service"],
            "severity": decisions[-1]["severity"], "owner": json.loads(decisions[-1]["owner"] or "{}"),
            "opened": decisions[0]["at"], "decisions": decisions, "updates": updates, "actions": actions,
            "next": upcoming, "rules": {h: commits.get(h, "") for h in hashes}}
