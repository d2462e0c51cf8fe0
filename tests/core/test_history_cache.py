"""The in-memory history cache answers exactly what the SQL queries answer, in any arrival order."""

from __future__ import annotations

import random
import sqlite3
from datetime import UTC, datetime

from engine.history import AuditHistory


def make_db() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE decisions (service TEXT, severity TEXT, incident_id TEXT, event_epoch REAL)")
    return conn


def test_incremental_counts_equal_sql_with_out_of_order_events_and_rollbacks() -> None:
    rng = random.Random(11)
    conn = make_db()
    cached, exact = AuditHistory(conn), AuditHistory(conn)
    t = 1_700_000_000.0
    for i in range(600):
        t += rng.choice([1, 30, 600, 3600, 20000])
        at = t - (rng.choice([0, 0, 0, 5000, 90000]))  # some events arrive out of order
        service = rng.choice(["a", "b"])
        when = datetime.fromtimestamp(at, UTC)
        assert cached(service, when) == exact._query(service, at), i
        if rng.random() < 0.05:  # a failed transaction: rows appear, then vanish
            conn.execute("BEGIN")
            conn.execute("INSERT INTO decisions VALUES (?, 'MAJOR', 'ghost', ?)", (service, at))
            cached(service, when)
            conn.execute("ROLLBACK")
            continue
        severity = rng.choice(["NONE", "MODERATE", "MODERATE", "MAJOR", "CRITICAL"])
        incident = f"inc-{rng.randint(0, 40)}"
        conn.execute("INSERT INTO decisions VALUES (?, ?, ?, ?)", (service, severity, incident, at))
