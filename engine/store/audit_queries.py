"""Auditor queries over the audit log (``rules audit firings|why|paged``): SQL only, read-only connection.

Time ranges are **event time** (``decisions.event_epoch``, indexed) for firings, and the time an
action was due (``actions.due_at``, RFC 3339 UTC text, so it compares as text) for pages.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any

from engine.store.readonly import has_table


def _rows(conn: sqlite3.Connection, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    cur = conn.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur]


def _rule_match(col: str) -> str:
    return f"({col} = :rule OR substr({col}, instr({col}, ':') + 1) = :rule)"


def firings(conn: sqlite3.Connection, *, rule: str | None = None, rules_hash: str | None = None,
            since: float | None = None, until: float | None = None, stage: str | None = None,
            grouped: bool = True, limit: int | None = None) -> list[dict[str, Any]]:
    """Firings by rule and rules hash (``grouped``: counts, selected, events, first/last event time),
    else one row per firing, newest event first."""
    where = ["1 = 1"]
    params: dict[str, Any] = {}
    for value, cond, name in ((rule, _rule_match("f.rule"), "rule"),
                              (rules_hash, "substr(f.rules_hash, 1, length(:hash)) = :hash", "hash"),
                              (since, "d.event_epoch >= :since", "since"), (until, "d.event_epoch < :until", "until"),
                              (stage, "f.stage = :stage", "stage")):
        if value is not None:
            where.append(cond)
            params[name] = value
    if grouped and not params:  # the whole log: the rollup (engine/store/audit_rollup.py) when there is one
        from engine.store.audit_rollup import grouped as from_rollup

        rolled = from_rollup(conn)
        if rolled is not None:
            keys = ("rule", "stage", "rules_hash", "firings", "selected", "incidents", "first", "last")
            out = [dict(zip(keys, r, strict=True)) for r in rolled[:limit]]
            for row in out:
                for key in ("first", "last"):
                    row[key] = None if row[key] is None else _iso(row[key])
            return out
    base = f"FROM firings f JOIN decisions d ON d.event_id = f.event_id WHERE {' AND '.join(where)}"
    if grouped:
        sql = ("SELECT f.rule, f.stage, f.rules_hash, count(*) AS firings, sum(f.selected) AS selected, "
               "count(DISTINCT d.incident_id) AS incidents, min(d.event_epoch) AS first, max(d.event_epoch) AS last "
               f"{base} GROUP BY f.rule, f.stage, f.rules_hash ORDER BY firings DESC, f.rule")
    else:
        sql = ("SELECT d.event_epoch AS event_time, f.event_id, d.incident_id, f.rule, f.stage, f.selected, "
               f"d.severity, f.rules_hash {base} ORDER BY d.event_epoch DESC, f.id")
    if limit is not None:
        sql += " LIMIT :limit"
        params["limit"] = limit
    out = _rows(conn, sql, params)
    for row in out:
        for key in ("first", "last", "event_time"):
            if key in row and row[key] is not None:
                row[key] = _iso(row[key])
    return out


def decision(conn: sqlite3.Connection, event_id: str) -> dict[str, Any] | None:
    """One decision with its selected severity firing and its event fact."""
    rows = _rows(conn, "SELECT event_id, incident_id, service, severity, confidence, rules_hash, model_version, "
                       "model_label, model_confidence, event_epoch FROM decisions WHERE event_id = :e",
                 {"e": event_id})
    if not rows:
        return None
    out = rows[0]
    sel = conn.execute("SELECT rule FROM firings WHERE event_id = ? AND stage = 'severity' AND selected = 1 "
                       "ORDER BY seq LIMIT 1", (event_id,)).fetchone()
    out["deciding_rule"] = str(sel[0]).split(":", 1)[-1] if sel else None
    fact = conn.execute("SELECT fact FROM facts WHERE event_id = ? AND kind = 'event' ORDER BY id LIMIT 1",
                        (event_id,)).fetchone()
    out["fact"] = fact[0] if fact else None
    out["suppression"] = None  # what the suppression stage did with it: a silence, maintenance, dedup, group …
    if has_table(conn, "suppressions"):
        sup = _rows(conn, "SELECT outcome, mechanism, reason, incident_id FROM suppressions WHERE event_id = :e "
                          "ORDER BY id DESC LIMIT 1", {"e": event_id})
        out["suppression"] = sup[0] if sup else None
    return out


def paged(conn: sqlite3.Connection, *, since: str | None = None, until: str | None = None,
          who: str | None = None, rules_hash: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """Every page (``actions.kind = 'page'``) due in the range: who (targets), when, which step and adapter,
    the outcome, the rules version that requested it, and the incident's first ack."""
    where = ["a.kind = 'page'"]
    params: dict[str, Any] = {}
    for value, cond, name in ((since, "a.due_at >= :since", "since"), (until, "a.due_at < :until", "until"),
                              (who, "EXISTS (SELECT 1 FROM json_each(a.intent, '$.targets') t WHERE t.value = :who)",
                               "who"),
                              (rules_hash, "substr(a.rules_hash, 1, length(:hash)) = :hash", "hash")):
        if value is not None:
            where.append(cond)
            params[name] = value
    sql = ("SELECT a.due_at, a.incident_id, a.action AS adapter, a.step, json_extract(a.intent, '$.targets') AS "
           "targets, coalesce(r.outcome, 'pending') AS outcome, r.at AS result_at, a.rules_hash, "
           "(SELECT u.by FROM incident_updates u WHERE u.incident_id = a.incident_id AND u.type = 'ack' "
           "ORDER BY u.id LIMIT 1) AS acked_by, "
           "(SELECT u.occurred_at FROM incident_updates u WHERE u.incident_id = a.incident_id AND u.type = 'ack' "
           "ORDER BY u.id LIMIT 1) AS acked_at "
           f"FROM actions a LEFT JOIN results r ON r.action_id = a.id WHERE {' AND '.join(where)} "
           "ORDER BY a.due_at DESC, a.id")
    if limit is not None:
        sql += " LIMIT :limit"
        params["limit"] = limit
    return _rows(conn, sql, params)


def _iso(epoch: float) -> str:
    dt = datetime.fromtimestamp(epoch, UTC)
    return dt.isoformat(timespec="milliseconds" if dt.microsecond else "seconds").replace("+00:00", "Z")
