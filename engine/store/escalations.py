"""The outbox rows a manual escalation reads and writes (``rules escalate``; engine.run.escalate).

A manual escalation never edits a row (the log is append-only): a step scheduled for later gets
the result ``superseded`` and a copy of its intent is requested due now, under the same key with
``:escalate:<update event id>`` appended — so the copy is a new outbox row, and the metric views
tell an escalation a person asked for from one a timeout sent (``MANUAL_KEY``).
"""

from __future__ import annotations

from typing import Any

MANUAL_KEY = "%:escalate:%"  # LIKE pattern of the idempotency keys of pages a manual escalation requested


def page_rows(audit: Any, incident_id: str) -> list[dict[str, Any]]:
    """The incident's page rows: id, key, action, step, due_at, intent, rules_hash, outcome (None while
    pending) and whether an attempt started."""
    rows = audit.conn.execute(
        "SELECT a.id, a.idempotency_key, a.action, a.step, a.due_at, a.intent, a.rules_hash, r.outcome, "
        "EXISTS (SELECT 1 FROM starts s WHERE s.action_id = a.id) FROM actions a "
        "LEFT JOIN results r ON r.action_id = a.id WHERE a.incident_id = ? AND a.kind = 'page' ORDER BY a.id",
        (incident_id,)).fetchall()
    keys = ("id", "key", "action", "step", "due_at", "intent", "rules_hash", "outcome", "started")
    return [dict(zip(keys, r, strict=True)) for r in rows]


def page_now(audit: Any, row: dict[str, Any], event_id: str, rules_hash: str, superseded: bool, why: str) -> int:
    """Request a copy of page ``row`` due now; with ``superseded``, the row itself is recorded as replaced."""
    now = audit.clock()
    cur = audit.conn.execute(
        "INSERT OR IGNORE INTO actions (idempotency_key, event_id, incident_id, action, kind, step, due_at, intent, "
        "at, rules_hash) SELECT idempotency_key || ':escalate:' || ?, ?, incident_id, action, kind, step, ?, intent, "
        "?, ? FROM actions WHERE id = ?", (event_id, event_id, now, now, rules_hash, row["id"]))
    new = int(cur.lastrowid or 0) if cur.rowcount else 0
    if superseded and new:
        audit.conn.execute("INSERT OR IGNORE INTO results (action_id, outcome, detail, reason, at, rules_hash) "
                           "VALUES (?, 'superseded', ?, 'superseded', ?, ?)",
                           (row["id"], f"{why}: due now as action #{new}", now, rules_hash))
    return new


def requested(audit: Any, event_id: str) -> list[dict[str, Any]]:
    """The pages a manual escalation (its update's event id) requested: step, action, intent."""
    rows = audit.conn.execute("SELECT step, action, intent FROM actions WHERE event_id = ? AND kind = 'page' "
                              "AND idempotency_key LIKE ? ORDER BY id", (event_id, MANUAL_KEY)).fetchall()
    return [dict(zip(("step", "action", "intent"), r, strict=True)) for r in rows]
