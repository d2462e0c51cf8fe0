"""Every table and index of the audit log, as named migrations applied in order.

A migration is applied once per file and recorded in ``migrations`` (name, when). Each is written
so that it also holds on a log created before migrations were recorded (``IF NOT EXISTS``; a table
that exists gets its missing columns), so opening an older log brings it up to date without
touching a row. A new column or index is a NEW migration appended to :data:`MIGRATIONS`, never an
edit of an applied one. Every table is append-only: ``UPDATE`` and ``DELETE`` are refused by triggers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # a reader of an up-to-date log never needs it (engine.store.metrics_views)
    import sqlite_utils

from engine.store import metrics_views as metric_views
from engine.store.append_only import guard

T, N, F = str, int, float
SCHEMA: dict[str, dict[str, type]] = {
    "intake": {"id": N, "at": T, "file": T, "event_id": T, "outcome": T, "code": T, "reason": T, "rules_hash": T},
    "events": {"event_id": T, "at": T, "timestamp": T, "source": T, "service": T, "environment": T, "status": T,
               "payload": T, "rules_hash": T},
    "facts": {"id": N, "event_id": T, "kind": T, "fact": T, "at": T, "rules_hash": T},
    "firings": {"id": N, "event_id": T, "seq": N, "rule": T, "stage": T, "selected": N, "bindings": T, "at": T,
                "rules_hash": T},
    "decisions": {"event_id": T, "incident_id": T, "service": T, "severity": T, "confidence": F, "owner": T,
                  "escalation": T, "remediation": T, "notifications": T, "fired_rules": T, "problems": T,
                  "at": T, "rules_hash": T, "event_epoch": F, "model_version": T, "model_label": T,
                  "model_confidence": F},
    "disagreements": {"id": N, "event_id": T, "service": T, "severity": T, "rule": T, "model_label": T,
                      "model_confidence": F, "model_version": T, "at": T, "rules_hash": T},
    "severity_feedback": {"id": N, "event_id": T, "incident_id": T, "severity": T, "previous": T, "by": T,
                          "note": T, "at": T},
    "actions": {"id": N, "idempotency_key": T, "event_id": T, "incident_id": T, "action": T, "kind": T,
                "step": N, "due_at": T, "intent": T, "at": T, "rules_hash": T},
    "starts": {"id": N, "action_id": N, "attempt": N, "at": T, "rules_hash": T},
    "attempts": {"id": N, "action_id": N, "attempt": N, "ok": N, "detail": T, "reason": T, "retryable": N,
                 "status": N, "waited": F, "at": T, "rules_hash": T},
    "results": {"id": N, "action_id": N, "outcome": T, "detail": T, "reason": T, "memo": T, "at": T,
                "rules_hash": T},
    "incident_updates": {"id": N, "event_id": T, "incident_id": T, "type": T, "by": T, "source": T,
                         "occurred_at": T, "note": T, "at": T, "rules_hash": T},
    # what a pager calls our incident: the dedup key / alias it accepted, its own incident id
    "vendor_refs": {"id": N, "vendor": T, "ref": T, "incident_id": T, "origin": T, "at": T},
    # rules_hash → the Git commit of the rule files it was loaded from ("" outside a Git work tree)
    "rules_versions": {"id": N, "rules_hash": T, "git_commit": T, "at": T},
}
PKS = {"events": "event_id", "decisions": "event_id"}
UNIQUE = {"actions": ["idempotency_key"], "results": ["action_id"], "incident_updates": ["event_id"],
          "vendor_refs": ["vendor", "ref"], "rules_versions": ["rules_hash", "git_commit"]}
INDEXES = {"firings": ["event_id"], "facts": ["event_id"], "actions": ["incident_id"], "attempts": ["action_id"],
           "starts": ["action_id"],
           "intake": ["event_id"], "incident_updates": ["incident_id"]}
# Created with IF NOT EXISTS on every open, so logs written before they existed get them too.
# (service, event_epoch) also serves lookups by service alone.
COMPOSITE_INDEXES: dict[str, list[tuple[str, ...]]] = {
    "decisions": [("service", "event_epoch")], "severity_feedback": [("event_id",)],
    "disagreements": [("event_id",)]}
# Indexes that others now cover: dropped on open (an index is not a row: the log loses nothing).
REDUNDANT_INDEXES = ("idx_decisions_service",)
# The WAL is checkpointed at sqlite's default, every 1,000 pages. Measured (benchmarks/): 4,000 pages cut
# the commit per decision from 29-31 to 23-24 µs at 100 per transaction, but each checkpoint then stalls
# the writer four times as long: arrival→commit p99 at 500 events/s went from 13 to 30 ms. Tail latency wins.
WAL_CHECKPOINT_PAGES = 1000

# The suppression stage's tables (engine.store.incidents), written as DDL.
SUPPRESSION_TABLES = {
    "incidents": "id INTEGER PRIMARY KEY, incident_id TEXT NOT NULL, op TEXT, event_id TEXT, at TEXT, "
                 "severity TEXT, reason TEXT, state TEXT, rules_hash TEXT",
    "suppressions": "id INTEGER PRIMARY KEY, event_id TEXT, incident_id TEXT, outcome TEXT, mechanism TEXT, "
                    "reason TEXT, at TEXT, rules_hash TEXT",
    "suppress_state": "id INTEGER PRIMARY KEY, key TEXT NOT NULL, state TEXT, at TEXT",
    "fusion_signals": "id INTEGER PRIMARY KEY, sid TEXT NOT NULL, fusion_id TEXT, service TEXT, op TEXT, "
                      "event_id TEXT, incident_id TEXT, kinds TEXT, doc TEXT, at REAL, rules_hash TEXT",
}
SUPPRESSION_INDEXES = {"incidents": "incident_id", "suppressions": "event_id", "suppress_state": "key",
                       "fusion_signals": "sid"}

Migration = Callable[["sqlite_utils.Database"], None]
# SCHEMA tables added after the migrations above existed: applied after them, in this order
LATER_TABLES = ("vendor_refs", "rules_versions")


def _audit_table(name: str) -> Migration:
    columns = SCHEMA[name]

    def create(db: sqlite_utils.Database) -> None:
        table = db.table(name)
        if table.exists():  # ADD COLUMN is not an UPDATE: the triggers allow it; old rows read NULL
            have = set(table.columns_dict)
            for col, kind in columns.items():
                if col not in have:
                    table.add_column(col, kind)
        else:
            pk = PKS.get(name, "id")
            table.create(columns, pk=pk, not_null={pk} if pk != "id" else set())
            for cols in [UNIQUE[name]] if name in UNIQUE else []:
                table.create_index(cols, unique=True)
            for col in INDEXES.get(name, []):
                table.create_index([col])
        guard(db.conn, name)

    return create


def _composite_indexes(db: sqlite_utils.Database) -> None:
    for name, indexes in COMPOSITE_INDEXES.items():
        for cols in indexes:
            db.conn.execute(f"CREATE INDEX IF NOT EXISTS idx_{name}_{'_'.join(cols)} ON {name} ({', '.join(cols)})")


def _drop_redundant_indexes(db: sqlite_utils.Database) -> None:
    for index in REDUNDANT_INDEXES:  # an index is not a row: the log loses nothing
        db.conn.execute(f"DROP INDEX IF EXISTS {index}")


def _suppression_tables(db: sqlite_utils.Database) -> None:
    for name, columns in SUPPRESSION_TABLES.items():
        col = SUPPRESSION_INDEXES[name]
        db.conn.execute(f"CREATE TABLE IF NOT EXISTS {name} ({columns})")
        db.conn.execute(f"CREATE INDEX IF NOT EXISTS idx_{name}_{col} ON {name} ({col})")
        guard(db.conn, name)


def _incident_members(db: sqlite_utils.Database) -> None:
    """A group's membership, one row per fingerprint joining or leaving (engine.store.incidents): the
    ``incidents`` rows stop carrying the whole fingerprint list, which grew quadratically with a group."""
    db.conn.execute("CREATE TABLE IF NOT EXISTS incident_members (id INTEGER PRIMARY KEY, incident_id TEXT NOT "
                    "NULL, fingerprint TEXT, op TEXT, event_id TEXT, at TEXT)")
    db.conn.execute("CREATE INDEX IF NOT EXISTS idx_incident_members_incident_id ON incident_members (incident_id)")
    guard(db.conn, "incident_members")


def _history_indexes(db: sqlite_utils.Database) -> None:
    """The history, timeline and audit queries (engine/store/history_queries.py): incidents by id and time."""
    for name, col in (("decisions", "incident_id"), ("decisions", "event_epoch"), ("suppressions", "incident_id")):
        db.conn.execute(f"CREATE INDEX IF NOT EXISTS idx_{name}_{col} ON {name} ({col})")


def _index(db: sqlite_utils.Database, table: str, cols: tuple[str, ...]) -> None:
    db.conn.execute(f"CREATE INDEX IF NOT EXISTS idx_{table}_{'_'.join(cols)} ON {table} ({', '.join(cols)})")


MIGRATIONS: tuple[tuple[str, Migration], ...] = (
    *((f"table-{name}", _audit_table(name)) for name in SCHEMA if name not in LATER_TABLES),
    ("composite-indexes", _composite_indexes),
    ("drop-redundant-indexes", _drop_redundant_indexes),
    ("suppression-tables", _suppression_tables),
    ("incident-members", _incident_members),
    ("history-indexes", _history_indexes),
    (f"metric-views-{metric_views.digest()}", lambda db: metric_views.ensure_views(db.conn)),  # README "SRE metrics"
    *((f"table-{name}", _audit_table(name)) for name in LATER_TABLES),  # vendor ack mapping, rules provenance
    ("paged-index", lambda db: _index(db, "actions", ("kind", "due_at"))),  # `rules audit paged` by due time
)


def migrate(db: sqlite_utils.Database) -> list[str]:
    """Apply the migrations this file has not had, in order; return their names."""
    conn: Any = db.conn
    conn.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, at TEXT)")
    guard(conn, "migrations")
    done = {row[0] for row in conn.execute("SELECT name FROM migrations")}
    applied = []
    for name, step in MIGRATIONS:
        if name in done:
            continue
        step(db)
        conn.execute("INSERT INTO migrations (name, at) VALUES (?, datetime('now'))", (name,))
        applied.append(name)
    return applied
