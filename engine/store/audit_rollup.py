"""The rollup behind ``rules audit firings`` grouped over the whole log (no filter).

Grouping every firing by rule, stage and rules hash is a scan of the whole ``firings`` table joined to
``decisions`` (1.8 s over 100,000 incidents). :func:`refresh` appends one snapshot of that grouping
to ``firing_rollups`` (``upto``: the last firings rowid it covers; ``pruned``: the last prune run it
saw), at the end of each ``rules history prune`` (so daily under the daemon's ``--history-days``) and
by ``rules audit rollup``. :func:`grouped` answers from the newest snapshot plus the firings written
after it: counts add up; an incident is counted once per group, a tail incident only when no firing
of that group at or below ``upto`` had it. A snapshot older than the last prune is not used (the
pruned rows would still be counted); without a usable one the full scan answers.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from engine.store.append_only import create_tables
from engine.store.readonly import has_table

TABLE = ("firing_rollups", "id INTEGER PRIMARY KEY, refresh INTEGER, upto INTEGER, pruned INTEGER, rule TEXT, "
                           "stage TEXT, rules_hash TEXT, firings INTEGER, selected INTEGER, incidents INTEGER, "
                           "blank INTEGER, first REAL, last REAL, at TEXT")
_GROUP = "f.rule, f.stage, f.rules_hash"
_AGG = ("count(*), sum(f.selected), count(DISTINCT nullif(d.incident_id, '')), max(d.incident_id = ''), "
        "min(d.event_epoch), max(d.event_epoch)")
_FROM = "FROM firings f JOIN decisions d ON d.event_id = f.event_id"


def _last_prune(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT max(id) FROM retention_runs").fetchone()[0] or 0) \
        if has_table(conn, "retention_runs") else 0


def refresh(audit: Any, upto: int | None = None) -> int:
    """Append a snapshot of the grouping of every firing (its own sealed transaction); its row count.
    ``upto``: only the firings up to this rowid (benchmarks/history.py measures a tail after it)."""
    conn: sqlite3.Connection = audit.conn
    create_tables(conn, dict([TABLE]))
    audit.begin()
    try:
        top = conn.execute("SELECT max(rowid) FROM firings").fetchone()[0] or 0
        upto = top if upto is None else min(upto, top)
        refresh_id = (conn.execute("SELECT max(refresh) FROM firing_rollups").fetchone()[0] or 0) + 1
        rows = conn.execute(f"SELECT {_GROUP}, {_AGG} {_FROM} WHERE f.rowid <= ? GROUP BY {_GROUP}",
                            (upto,)).fetchall()
        conn.executemany("INSERT INTO firing_rollups (refresh, upto, pruned, rule, stage, rules_hash, firings, "
                         "selected, incidents, blank, first, last, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         [(refresh_id, upto, _last_prune(conn), *r, audit.clock()) for r in rows])
        audit.commit()
    except BaseException:
        audit.rollback()
        raise
    return len(rows)


def grouped(conn: sqlite3.Connection) -> list[tuple[Any, ...]] | None:
    """(rule, stage, rules_hash, firings, selected, incidents, first, last) per group, from the newest usable
    snapshot and the firings after it; None when there is none (the caller scans)."""
    if not has_table(conn, "firing_rollups"):
        return None
    head = conn.execute("SELECT refresh, upto, pruned FROM firing_rollups ORDER BY id DESC LIMIT 1").fetchone()
    if head is None or head[2] != _last_prune(conn):
        return None
    refresh_id, upto = head[0], head[1]
    acc: dict[tuple[Any, ...], list[Any]] = {}
    for rule, stage, h, n, sel, inc, blank, first, last in conn.execute(
            "SELECT rule, stage, rules_hash, firings, selected, incidents, blank, first, last FROM firing_rollups "
            "WHERE refresh = ?", (refresh_id,)):
        acc[(rule, stage, h)] = [n, sel, inc, blank, first, last]
    tail = conn.execute(
        f"SELECT {_GROUP}, count(*), sum(f.selected), count(DISTINCT CASE WHEN d.incident_id != '' AND NOT EXISTS "
        "(SELECT 1 FROM decisions d2 JOIN firings f2 ON f2.event_id = d2.event_id WHERE d2.incident_id = "
        "d.incident_id AND f2.rowid <= :upto AND f2.rule = f.rule AND f2.stage = f.stage AND f2.rules_hash IS "
        "f.rules_hash) THEN d.incident_id END), max(d.incident_id = ''), min(d.event_epoch), max(d.event_epoch) "
        f"{_FROM} WHERE f.rowid > :upto GROUP BY {_GROUP}", {"upto": upto}).fetchall()
    for rule, stage, h, n, sel, inc, blank, first, last in tail:
        a = acc.setdefault((rule, stage, h), [0, 0, 0, None, None, None])
        a[0] += n
        a[1] = (a[1] or 0) + (sel or 0)
        a[2] += inc
        a[3] = max(x for x in (a[3], blank) if x is not None) if (a[3], blank) != (None, None) else None
        a[4] = first if a[4] is None else min(a[4], first) if first is not None else a[4]
        a[5] = last if a[5] is None else max(a[5], last) if last is not None else a[5]
    out = [(*k, n, sel, inc + (1 if blank else 0), first, last) for k, (n, sel, inc, blank, first, last) in acc.items()]
    out.sort(key=lambda r: (-r[3], r[0]))
    return out
