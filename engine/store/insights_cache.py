"""A per-incident summary of the metric contract, kept beside the audit log and refreshed on read.

The contract views (:mod:`engine.store.metrics_views`) aggregate decisions, pages, updates and
closes per incident on every read; over a long log most of that work repeats. This cache keeps
one row per incident — the ``insight_lifecycle`` view's columns plus the deciding rule and
fingerprint of ``insight_causes`` — and each incident's ``metric_interruptions`` rows in a sidecar
sqlite file (``<db>.insights``, or ``$ESCALATION_INSIGHTS_CACHE``; ``off`` reads the views alone),
indexed by start time.

It is never a second definition: each row is the views' own SQL evaluated for that incident.
A refresh (every :meth:`~engine.store.metrics_views.InsightsStore.open`) finds the incidents that
rows written since the last refresh touch — by rowid marks on ``decisions``, ``results``,
``incident_updates`` and ``incidents`` (every table is append-only) — and recomputes those alone, in
one read snapshot of the log. A prune (a new ``retention_runs`` row: rows left the log, and sqlite may
reuse the rowids of deleted last rows), another log in the same place, or changed view definitions
rebuild it from scratch.

The sidecar is not part of the audit log: the ledger does not bind it, it holds nothing the log
does not, and deleting it only costs the next report a rebuild. Writes go to the sidecar only, so a
refresh never holds the audit log's write lock (a running daemon is not slowed).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from engine.store import metrics_views as mv

VERSION = "2"  # 2: the interruptions table
SCHEMA = "ic"  # the sidecar's name on the audit log's connection (ATTACH … AS ic)
# table -> (how its new rows name incidents); page results name theirs through the action
TOUCHES = {
    "decisions": "SELECT incident_id FROM main.decisions WHERE rowid > :lo AND rowid <= :hi",
    "results": "SELECT a.incident_id FROM main.results r JOIN main.actions a ON a.id = r.action_id "
               "WHERE r.rowid > :lo AND r.rowid <= :hi AND a.kind = 'page'",
    "incident_updates": "SELECT incident_id FROM main.incident_updates WHERE rowid > :lo AND rowid <= :hi",
    "incidents": "SELECT incident_id FROM main.incidents WHERE rowid > :lo AND rowid <= :hi AND op = 'close'",
}
EXTRA = ("rule", "fingerprint")  # from insight_causes


def location(db: str | Path) -> Path | None:
    """Where the sidecar of ``db`` lives; None when caching is off."""
    setting = os.environ.get("ESCALATION_INSIGHTS_CACHE", "")
    if setting.lower() in ("off", "0", "no", "false"):
        return None
    return Path(setting) if setting else Path(f"{db}.insights")


def columns(conn: sqlite3.Connection, view: str) -> list[str]:
    """A view's column names, in order (what a cached read must give back)."""
    return [r[1] for r in conn.execute(f"PRAGMA main.table_info({view})")]


def attach(conn: sqlite3.Connection, path: Path, like: str | Path | None = None) -> None:
    """Attach (creating when absent) the sidecar at ``path`` as schema ``ic``; raises sqlite3.Error or OSError.
    A new sidecar gets the permission bits of ``like`` (the audit log: it holds the same incidents)."""
    if like is not None and not path.exists():
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, os.stat(like).st_mode & 0o777)
        os.close(fd)
        os.chmod(path, os.stat(like).st_mode & 0o777)  # whatever the umask
    conn.execute(f"ATTACH DATABASE ? AS {SCHEMA}", (str(path),))
    conn.execute(f"PRAGMA {SCHEMA}.journal_mode=WAL")
    conn.execute(f"CREATE TABLE IF NOT EXISTS {SCHEMA}.meta (key TEXT PRIMARY KEY, value TEXT)")


def _identity(conn: sqlite3.Connection) -> str:
    """What says the log is the one the cache was built from (its first migration, written when the file was
    created and never pruned), and the definitions it was built with."""
    row = conn.execute("SELECT name, at FROM main.migrations ORDER BY rowid LIMIT 1").fetchone()
    return f"{VERSION}:{mv.digest()}:{row[0] if row else ''}:{row[1] if row else ''}"


def _marks(conn: sqlite3.Connection) -> dict[str, int]:
    return {t: int(conn.execute(f"SELECT coalesce(max(rowid), 0) FROM main.{t}").fetchone()[0]) for t in TOUCHES}


def _create(conn: sqlite3.Connection) -> None:
    cols = [*columns(conn, "insight_lifecycle"), *EXTRA]
    conn.execute(f"DROP TABLE IF EXISTS {SCHEMA}.lifecycle")
    conn.execute(f"CREATE TABLE {SCHEMA}.lifecycle ({', '.join(cols)}, PRIMARY KEY (incident_id))")
    # covering for the anomaly detectors' reads (service, severity, time); the window filter for the rest
    conn.execute(f"CREATE INDEX {SCHEMA}.idx_lifecycle_start ON lifecycle (start_epoch, service, severity)")
    # metric_interruptions' rows (one per incident, step and person paged), by the incident's start
    conn.execute(f"DROP TABLE IF EXISTS {SCHEMA}.interruptions")
    conn.execute(f"CREATE TABLE {SCHEMA}.interruptions ({', '.join(columns(conn, 'metric_interruptions'))})")
    conn.execute(f"CREATE INDEX {SCHEMA}.idx_interruptions_start ON interruptions (start_epoch)")
    conn.execute(f"CREATE INDEX {SCHEMA}.idx_interruptions_incident ON interruptions (incident_id)")
    conn.execute(f"DELETE FROM {SCHEMA}.meta WHERE key != 'lock'")


def _fill_sql(windowed: bool) -> str:
    """The cache rows computed by the views' own SQL, for every incident or for those in ``temp.ic_touched``."""
    if not windowed:
        return ("SELECT l.*, c.rule, c.fingerprint FROM main.insight_lifecycle l "
                "JOIN main.insight_causes c USING (incident_id)")
    ctes = ", ".join(["win AS (SELECT incident_id FROM temp.ic_touched)",
                      *[f"{b} AS ({mv.body(b, True)})" for b in mv.BASE],
                      f"insight_causes AS ({mv.body('insight_causes')})"])
    return (f"WITH {ctes} SELECT l.*, c.rule, c.fingerprint FROM insight_lifecycle l "
            "JOIN insight_causes c USING (incident_id)")


def _interruptions_sql(windowed: bool) -> str:
    """metric_interruptions' rows, for every incident or for those in ``temp.ic_touched``."""
    if not windowed:
        return "SELECT * FROM main.metric_interruptions"
    ctes = ", ".join(["win AS (SELECT incident_id FROM temp.ic_touched)",
                      *[f"{b} AS ({mv.body(b, True)})" for b in mv.BASE]])
    return f"WITH {ctes} SELECT * FROM ({mv.body('metric_interruptions')})"


def refresh(conn: sqlite3.Connection) -> int:
    """Bring the sidecar up to the log's current rows; returns how many incidents were (re)computed."""
    for attempt in range(2):
        conn.execute("BEGIN")
        try:
            # the sidecar's write lock first (one refresher at a time), then the log's snapshot
            conn.execute(f"INSERT OR REPLACE INTO {SCHEMA}.meta VALUES ('lock', '')")
            meta = dict(conn.execute(f"SELECT key, value FROM {SCHEMA}.meta").fetchall())
            marks = _marks(conn)
            have = conn.execute(f"SELECT 1 FROM {SCHEMA}.sqlite_master WHERE name = 'lifecycle'").fetchone()
            old = {t: int(meta.get(f"mark:{t}", 0)) for t in TOUCHES}
            behind = any(marks[t] < old[t] for t in TOUCHES)
            if behind and attempt == 0:  # a snapshot older than another refresh's: take a new one
                conn.execute("ROLLBACK")
                continue
            pruned = _retention_mark(conn) != int(meta.get("mark:retention_runs", 0))
            if not have or behind or pruned or meta.get("identity") != _identity(conn):
                _create(conn)
                conn.execute(f"INSERT INTO {SCHEMA}.lifecycle {_fill_sql(False)}")
                conn.execute(f"INSERT INTO {SCHEMA}.interruptions {_interruptions_sql(False)}")
                done = int(conn.execute(f"SELECT count(*) FROM {SCHEMA}.lifecycle").fetchone()[0])
            else:
                done = _incremental(conn, old, marks)
            rows = [("identity", _identity(conn)), ("mark:retention_runs", str(_retention_mark(conn))),
                    *((f"mark:{t}", str(v)) for t, v in marks.items())]
            conn.executemany(f"INSERT OR REPLACE INTO {SCHEMA}.meta VALUES (?, ?)", rows)
            conn.execute("COMMIT")
            return done
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    raise AssertionError("unreachable")  # pragma: no cover


def _retention_mark(conn: sqlite3.Connection) -> int:
    if not conn.execute("SELECT 1 FROM main.sqlite_master WHERE name = 'retention_runs'").fetchone():
        return 0
    return int(conn.execute("SELECT coalesce(max(rowid), 0) FROM main.retention_runs").fetchone()[0])


def _incremental(conn: sqlite3.Connection, old: dict[str, int], marks: dict[str, int]) -> int:
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS ic_touched (incident_id TEXT PRIMARY KEY)")
    conn.execute("DELETE FROM temp.ic_touched")
    for table, sql in TOUCHES.items():
        if marks[table] > old[table]:
            conn.execute(f"INSERT OR IGNORE INTO temp.ic_touched SELECT incident_id FROM ({sql}) "
                         "WHERE incident_id IS NOT NULL AND incident_id != ''", {"lo": old[table], "hi": marks[table]})
    n = int(conn.execute("SELECT count(*) FROM temp.ic_touched").fetchone()[0])
    if n:
        conn.execute(f"INSERT OR REPLACE INTO {SCHEMA}.lifecycle {_fill_sql(True)}")
        conn.execute(f"DELETE FROM {SCHEMA}.interruptions WHERE incident_id IN "
                     "(SELECT incident_id FROM temp.ic_touched)")
        conn.execute(f"INSERT INTO {SCHEMA}.interruptions {_interruptions_sql(True)}")
    return n
