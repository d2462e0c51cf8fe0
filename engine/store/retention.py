"""``rules history prune``: the only path by which rows leave the audit log.

For every **resolved** incident whose first event is older than the cut (open and acked incidents
are never touched), and every decision older than the cut that opened no incident:

1. daily per-service rollups first (``history_rollups``: incidents, resolved, pages, escalations,
   the sum and count of resolution times, per day, service and severity), so long-range figures
   survive the rows;
2. then its rows — decisions, events, intake, facts, firings, actions with their starts, attempts
   and results, incident updates, suppression and group-membership rows, the pagers' references to it
   (``vendor_refs``) — deleted in transactions of ``batch`` incidents; then the suppression state no
   reader needs any more and older than the cut (:data:`SUPERSEDED`: a tracker's states before its
   newest, the signals of fusion windows closed before the cut), in bounded transactions too;
   each deleted ``(table, rowid)`` is listed in ``ledger_pruned`` in the same transaction (the
   append-only triggers are dropped and re-created inside it, so no other writer sees them gone);
3. one ``retention_runs`` row records the run, the firings rollup is refreshed (engine/store/audit_rollup.py),
   and a signed ``prune`` checkpoint closes it.

The ledger keeps every entry: a pruned row's hash stays in its entry, and ``verify`` takes it from
there for the rowids ``ledger_pruned`` lists (QLDB and immudb keep proofs the same way), so a prune
leaves a log that still verifies while a deletion outside this path does not. Space is reclaimed
by ``VACUUM`` (offline: it rewrites the file), or incrementally with ``PRAGMA auto_vacuum``.
"""

from __future__ import annotations

import sqlite3
import time
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from engine.model import clock
from engine.store.append_only import create_tables, guard, lift
from engine.store.history_queries import SEVERITY_RANK, Filters, query
from engine.store.readonly import has_table

EXTRA = {
    "history_rollups": "id INTEGER PRIMARY KEY, day TEXT, service TEXT, severity TEXT, incidents INTEGER, "
                       "resolved INTEGER, pages INTEGER, escalations INTEGER, resolution_sum REAL, "
                       "resolution_n INTEGER, run INTEGER, at TEXT",
    "retention_runs": "id INTEGER PRIMARY KEY, cutoff TEXT, incidents INTEGER, decisions INTEGER, rows INTEGER, "
                      "rollups INTEGER, seconds REAL, at TEXT",
    "ledger_pruned": "id INTEGER PRIMARY KEY, tbl TEXT, row INTEGER, run INTEGER",
}
_NAMES = {v: k for k, v in SEVERITY_RANK.items()}
# table → how its rows of one incident are found (:inc incident id; events/facts/… through its decisions)
_BY_EVENT = "event_id IN (SELECT event_id FROM decisions WHERE incident_id = :inc)"
_BY_ACTION = "action_id IN (SELECT id FROM actions WHERE incident_id = :inc)"
WHERE = {"firings": _BY_EVENT, "facts": _BY_EVENT, "intake": _BY_EVENT, "events": _BY_EVENT,
         "disagreements": _BY_EVENT, "severity_feedback": "incident_id = :inc",
         "starts": _BY_ACTION, "attempts": _BY_ACTION, "results": _BY_ACTION,
         "actions": "incident_id = :inc", "incident_updates": "incident_id = :inc",
         "suppressions": "incident_id = :inc", "incidents": "incident_id = :inc",
         "incident_members": "incident_id = :inc", "vendor_refs": "incident_id = :inc",
         "decisions": "incident_id = :inc"}  # decisions last: the others find their rows through it


# state rows whose only reader has moved past them (engine/store/incidents.py: ``trackers`` reads each key's newest
# row, ``open_windows`` the signals after each window's last close): deleted when older than the cut
SUPERSEDED = {
    "suppress_state": "at < :cut AND id < (SELECT max(m.id) FROM suppress_state m WHERE m.key = suppress_state.key)",
    "fusion_signals": "id <= coalesce((SELECT max(c.id) FROM fusion_signals c WHERE c.sid = fusion_signals.sid "
                      "AND c.op != 'signal' AND c.at < :epoch), 0)",
}
STATE_BATCH = 5000


def create(conn: sqlite3.Connection) -> None:
    create_tables(conn, EXTRA)
    conn.execute("CREATE INDEX IF NOT EXISTS idx_ledger_pruned_tbl_row ON ledger_pruned (tbl, row)")


def _day(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d")


def rollups(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """(day, service, severity, incidents, resolved, pages, escalations, resolution_sum, resolution_n)."""
    acc: dict[tuple[str, str, str], list[float]] = defaultdict(lambda: [0, 0, 0, 0, 0.0, 0])
    for r in rows:
        a = acc[(_day(r["opened"]), r["service"], _NAMES.get(r["rank"], "NONE"))]
        a[0] += 1
        a[1] += r["status"] == "resolved"
        a[2] += r["pages"]
        a[3] += r["escalations"]
        if r["resolution_time"] is not None:
            a[4] += max(r["resolution_time"], 0.0)
            a[5] += 1
    return [(*k, *v) for k, v in sorted(acc.items())]


def _triggers(conn: sqlite3.Connection, tables: list[str], on: bool) -> None:
    for t in tables:
        if on:
            guard(conn, t, ("DELETE",))
        else:
            lift(conn, t, "DELETE")


def prune(audit: Any, cutoff: float, batch: int = 500, now: str | None = None) -> dict[str, Any]:
    """Prune resolved incidents (and incident-less decisions) whose first event is before ``cutoff``."""
    conn: sqlite3.Connection = audit.conn
    started = time.perf_counter()
    create(conn)
    at = now or audit.clock()
    old = [r for r in query(conn, Filters(until=cutoff, status="resolved"))]
    loose = [r[0] for r in conn.execute("SELECT event_id FROM decisions WHERE (incident_id IS NULL OR incident_id = '')"
                                        " AND event_epoch < ?", (cutoff,))]
    tables = [t for t in WHERE if has_table(conn, t)]
    run = (conn.execute("SELECT max(id) FROM retention_runs").fetchone()[0] or 0) + 1
    audit.begin()
    try:
        rolled = rollups(old)
        conn.executemany("INSERT INTO history_rollups (day, service, severity, incidents, resolved, pages, "
                         "escalations, resolution_sum, resolution_n, run, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         [(*r, run, at) for r in rolled])
        audit.commit()
    except BaseException:
        audit.rollback()
        raise
    deleted = 0
    ids = [r["incident_id"] for r in old]
    for i in range(0, len(ids), batch):
        deleted += _delete_batch(audit, tables, [{"inc": x} for x in ids[i:i + batch]], run)
    for i in range(0, len(loose), batch):  # decisions that opened no incident: by event id
        deleted += _delete_loose(audit, tables, loose[i:i + batch], run)
    state = _delete_superseded(audit, cutoff, run)
    deleted += state
    seconds = time.perf_counter() - started
    audit.begin()
    try:  # the run records itself (rows, rollups, time): its own row, sealed like any other
        conn.execute("INSERT INTO retention_runs (id, cutoff, incidents, decisions, rows, rollups, seconds, at) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     (run, datetime.fromtimestamp(cutoff, UTC).isoformat().replace("+00:00", "Z"), len(ids),
                      sum(r["events"] for r in old) + len(loose), deleted, len(rolled), round(seconds, 3), at))
        audit.commit()
    except BaseException:
        audit.rollback()
        raise
    from engine.store.audit_rollup import refresh

    refresh(audit)  # `rules audit firings` over the whole log without the pruned rows
    if audit.ledger is not None:
        audit.ledger.checkpoint("prune", {"cutoff": int(cutoff), "pruned": deleted, "run": run})
    return {"run": run, "incidents": len(ids), "loose_decisions": len(loose), "rows": deleted, "state_rows": state,
            "rollups": len(rolled), "seconds": round(seconds, 3)}


def _delete(audit: Any, tables: list[str], where: dict[str, str], params: list[dict[str, Any]], run: int) -> int:
    conn = audit.conn
    audit.begin()
    try:
        _triggers(conn, tables, on=False)
        n = 0
        for t in tables:
            # the newest row of a table stays: sqlite would give its rowid to the next insert, below the ledger's marks
            top = conn.execute(f"SELECT max(rowid) FROM {t}").fetchone()[0]
            for p in params:
                rows = [r for r in conn.execute(f"SELECT rowid FROM {t} WHERE {where[t]}", p).fetchall() if r[0] != top]
                if not rows:
                    continue
                conn.executemany("INSERT INTO ledger_pruned (tbl, row, run) VALUES (?, ?, ?)",
                                 [(t, r[0], run) for r in rows])
                conn.executemany(f"DELETE FROM {t} WHERE rowid = ?", rows)
                n += len(rows)
        _triggers(conn, tables, on=True)
        audit.commit()
    except BaseException:
        audit.rollback()
        raise
    return n


def _delete_batch(audit: Any, tables: list[str], params: list[dict[str, Any]], run: int) -> int:
    return _delete(audit, tables, WHERE, params, run)


def _delete_loose(audit: Any, tables: list[str], event_ids: list[str], run: int) -> int:
    where = {t: "event_id = :e" for t in tables if t in ("firings", "facts", "intake", "events", "disagreements",
                                                          "decisions", "suppressions")}
    return _delete(audit, [t for t in tables if t in where], where, [{"e": e} for e in event_ids], run)


def _delete_superseded(audit: Any, cutoff: float, run: int) -> int:
    """The :data:`SUPERSEDED` rows, at most :data:`STATE_BATCH` per table and transaction."""
    conn = audit.conn
    tables = [t for t in SUPERSEDED if has_table(conn, t)]
    where = {t: f"{SUPERSEDED[t]} LIMIT {STATE_BATCH}" for t in tables}
    params = {"cut": clock.at(cutoff), "epoch": cutoff}  # suppress_state.at is text in the log's format
    total = 0
    while n := _delete(audit, tables, where, [params], run):
        total += n
    return total
