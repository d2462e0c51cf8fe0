"""``rules history redact``: replace payloads by their hash, keeping every row, the chain and the roots.

The second retention mode, for logs that must keep *that* something happened (the decision, who was
paged, when) but not the alert's content: for each event of a **resolved** incident older than the
cut (open and acked incidents are never touched), or each event named with ``--event``, every
payload-bearing cell (engine/store/ledger_rows.py :data:`HASHED`: the event's payload, its facts, the
intents of its actions, the details of their attempts and results) becomes
``"redacted:sha256:<hex>"``, the hash through which it already entered its row's ledger hash.

- Row hashes, transaction roots, leaves, the chain and every checkpoint stay valid: ``verify`` passes;
  a marker whose hash is not the value's, or an edit of any other column, still fails at that cell.
- Each redacted cell is listed in ``ledger_redacted`` (table, rowid, column, run) in the same
  transaction, so the listing is sealed like any row; ``verify`` reports a marker not listed there.
- Rows sealed before per-column hashes (ledger range format 1) cannot be redacted without breaking
  their hash: they are skipped and counted.
- One ``redaction_runs`` row records the run; a signed ``redact`` checkpoint closes it.
"""

from __future__ import annotations

import bisect
import json
import sqlite3
import time
from datetime import UTC, datetime
from typing import Any

from engine.store.append_only import create_tables, guard, lift
from engine.store.history_queries import Filters, query
from engine.store.ledger_rows import HASHED, MARK, marker, parse_range
from engine.store.readonly import has_table

EXTRA = {
    "ledger_redacted": "id INTEGER PRIMARY KEY, tbl TEXT, row INTEGER, col TEXT, run INTEGER",
    "redaction_runs": "id INTEGER PRIMARY KEY, cutoff TEXT, events INTEGER, cells INTEGER, skipped INTEGER, "
                      "seconds REAL, at TEXT",
}
# table → its rows of one event (:e)
_BY_EVENT = {"events": "event_id = :e", "facts": "event_id = :e", "actions": "event_id = :e",
             "attempts": "action_id IN (SELECT id FROM actions WHERE event_id = :e)",
             "results": "action_id IN (SELECT id FROM actions WHERE event_id = :e)"}


class RedactError(ValueError):
    """A redaction that must not run (an open incident's event, an unknown event): nothing was changed."""


def create(conn: sqlite3.Connection) -> None:
    create_tables(conn, EXTRA)
    conn.execute("CREATE INDEX IF NOT EXISTS idx_ledger_redacted_tbl_row ON ledger_redacted (tbl, row)")


def select_events(conn: sqlite3.Connection, cutoff: float | None, event_ids: list[str]) -> list[str]:
    """The events to redact: those of resolved incidents opened before ``cutoff`` and incident-less decisions
    before it, or exactly ``event_ids`` (each must exist and belong to no open or acked incident)."""
    if cutoff is not None:
        out = [e for r in query(conn, Filters(until=cutoff, status="resolved")) for (e,) in
               conn.execute("SELECT event_id FROM decisions WHERE incident_id = ?", (r["incident_id"],))]
        return out + [r[0] for r in conn.execute(
            "SELECT event_id FROM decisions WHERE (incident_id IS NULL OR incident_id = '') AND event_epoch < ?",
            (cutoff,))]
    for e in event_ids:
        row = conn.execute("SELECT incident_id FROM decisions WHERE event_id = ?", (e,)).fetchone()
        if row is None:
            raise RedactError(f"no decision for event {e!r}")
        # the status history gives (engine/store/history_queries.py): resolved once a resolve is recorded
        if row[0] and not conn.execute("SELECT 1 FROM incident_updates WHERE incident_id = ? AND type = 'resolve'",
                                       (row[0],)).fetchone():
            raise RedactError(f"event {e!r} belongs to incident {row[0]}, which is not resolved: only resolved "
                              "incidents are redacted")
    return list(event_ids)


def _redactable(conn: sqlite3.Connection) -> dict[str, tuple[list[int], list[int], list[list[str]]]] | None:
    """table → (lo, hi, hashed columns) of its ledger ranges, sorted; None without a ledger (nothing to keep)."""
    if not has_table(conn, "ledger"):
        return None
    acc: dict[str, list[tuple[int, int, list[str]]]] = {}
    for (ranges,) in conn.execute("SELECT ranges FROM ledger ORDER BY seq"):
        for table, lo, hi, _n, _ncols, hashed in map(parse_range, json.loads(ranges)):
            if table in HASHED:
                acc.setdefault(table, []).append((lo, hi, hashed))
    return {t: ([r[0] for r in v], [r[1] for r in v], [r[2] for r in v]) for t, v in acc.items()}


def _hashed_here(index: dict[str, tuple[list[int], list[int], list[list[str]]]] | None, table: str,
                 rowid: int, col: str) -> bool:
    if index is None:
        return True
    if table not in index:
        return False
    los, his, hashed = index[table]
    k = bisect.bisect_right(los, rowid) - 1
    return k >= 0 and rowid <= his[k] and col in hashed[k]


def redact(audit: Any, cutoff: float | None = None, event_ids: list[str] | None = None, batch: int = 500,
           now: str | None = None) -> dict[str, Any]:
    """Redact the payload cells of the selected events (see the module docstring)."""
    conn: sqlite3.Connection = audit.conn
    started = time.perf_counter()
    if audit.ledger is not None:
        audit.ledger.seal_now()
    create(conn)
    events = select_events(conn, cutoff, event_ids or [])
    index = _redactable(conn)
    tables = {t: cols for t, cols in HASHED.items() if has_table(conn, t)}
    run = (conn.execute("SELECT max(id) FROM redaction_runs").fetchone()[0] or 0) + 1
    cells = skipped = 0
    secure = conn.execute("PRAGMA secure_delete").fetchone()[0]
    conn.execute("PRAGMA secure_delete = ON")  # pages and overflow freed by the updates are zeroed
    try:
        for i in range(0, len(events), batch):
            done, left = _batch(audit, tables, index, events[i:i + batch], run)
            cells, skipped = cells + done, skipped + left
    finally:
        conn.execute(f"PRAGMA secure_delete = {int(secure)}")
    seconds = time.perf_counter() - started
    when = None if cutoff is None else datetime.fromtimestamp(cutoff, UTC).isoformat().replace("+00:00", "Z")
    audit.begin()
    try:
        conn.execute("INSERT INTO redaction_runs (id, cutoff, events, cells, skipped, seconds, at) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?)", (run, when, len(events), cells, skipped, round(seconds, 3),
                                                     now or audit.clock()))
        audit.commit()
    except BaseException:
        audit.rollback()
        raise
    if audit.ledger is not None:
        audit.ledger.checkpoint("redact", {"redacted": cells, "run": run})
    return {"run": run, "events": len(events), "cells": cells, "skipped": skipped, "seconds": round(seconds, 3)}


def _batch(audit: Any, tables: dict[str, tuple[str, ...]], index: Any, events: list[str], run: int) -> tuple[int, int]:
    conn = audit.conn
    updates: dict[tuple[str, str], list[tuple[str, int]]] = {}
    listed: list[tuple[str, int, str, int]] = []
    skipped = 0
    for e in events:
        for table, cols in tables.items():
            names = ", ".join(f'"{c}"' for c in cols)
            for rowid, *values in conn.execute(f'SELECT rowid, {names} FROM "{table}" WHERE {_BY_EVENT[table]}',
                                               {"e": e}):
                for col, value in zip(cols, values, strict=True):
                    if value is None or (isinstance(value, str) and value.startswith(MARK)):
                        continue
                    if not _hashed_here(index, table, rowid, col):
                        skipped += 1
                        continue
                    updates.setdefault((table, col), []).append((marker(value), rowid))
                    listed.append((table, rowid, col, run))
    if not listed:
        return 0, skipped
    audit.begin()
    try:
        for table, _ in updates:
            lift(conn, table, "UPDATE")
        for (table, col), rows in updates.items():
            conn.executemany(f'UPDATE "{table}" SET "{col}" = ? WHERE rowid = ?', rows)
        conn.executemany("INSERT INTO ledger_redacted (tbl, row, col, run) VALUES (?, ?, ?, ?)", listed)
        for table, _ in updates:
            guard(conn, table, ("UPDATE",))
        audit.commit()
    except BaseException:
        audit.rollback()
        raise
    return len(listed), skipped
