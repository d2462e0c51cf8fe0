"""The in-memory history cache answers exactly what the SQL queries answer, in any arrival order."""

from __future__ import annotations

import random
import sqlite3
from datetime import UTC, datetime

import pytest

from engine.decide import history as history_module
from engine.decide.history import AuditHistory
from engine.store.history import DecisionRows


def make_db() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE decisions (service TEXT, severity TEXT, incident_id TEXT, event_epoch REAL)")
    return conn


@pytest.fixture(params=[history_module.MAX_HELD, 3], ids=["held", "capped"])
def cap(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """Both paths: services held in memory, and (cap 3) services that outgrow it and are answered by SQL."""
    monkeypatch.setattr(history_module, "MAX_HELD", request.param)
    return request.param


def test_incremental_counts_equal_sql_with_out_of_order_events_and_rollbacks(cap: int) -> None:
    rng = random.Random(11)
    conn = make_db()
    cached, exact = AuditHistory(DecisionRows(conn)), AuditHistory(DecisionRows(conn))
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


def test_rollback_then_more_rows_than_were_rolled_back_is_noticed() -> None:
    """Rowids are reused after a rollback: new rows past the old newest rowid must not hide it."""
    conn = make_db()
    cached, exact = AuditHistory(DecisionRows(conn)), AuditHistory(DecisionRows(conn))
    t = 1_700_000_000.0
    conn.execute("INSERT INTO decisions VALUES ('a', 'MODERATE', 'real-0', ?)", (t,))
    when = datetime.fromtimestamp(t + 10, UTC)
    assert cached("a", when)["moderate_1h"] == 1
    conn.execute("BEGIN")
    for i in range(3):
        conn.execute("INSERT INTO decisions VALUES ('a', 'CRITICAL', ?, ?)", (f"ghost-{i}", t + 1 + i))
    assert cached("a", when)["critical_1h"] == 3
    conn.execute("ROLLBACK")
    for i in range(5):  # rowids 2..6: past the ghosts' 2..4
        conn.execute("INSERT INTO decisions VALUES ('a', 'MAJOR', ?, ?)", (f"real-{i + 1}", t + 1 + i))
    later = datetime.fromtimestamp(t + 20, UTC)
    assert cached("a", later) == exact._query("a", later.timestamp())
    assert (cached("a", later)["critical_1h"], cached("a", later)["major_1h"]) == (0, 5)


def test_window_edges_with_fractional_epochs_equal_sql() -> None:
    """Events land exactly on (and a hair either side of) each window's edge, with fractional seconds."""
    rng = random.Random(5)
    conn = make_db()
    cached, exact = AuditHistory(DecisionRows(conn)), AuditHistory(DecisionRows(conn))
    base = 1_700_000_000.1
    stamps = sorted(base + k * secs + d for k in range(1, 4) for secs in (3600, 86400, 604800)
                    for d in (-0.3, -1e-6, 0.0, 1e-6, 0.2))
    for i, at in enumerate(stamps):
        when = datetime.fromtimestamp(at, UTC)
        assert cached("a", when) == exact._query("a", when.timestamp()), i
        severity = rng.choice(["MODERATE", "MAJOR", "CRITICAL"])
        conn.execute("INSERT INTO decisions VALUES ('a', ?, ?, ?)", (severity, f"inc-{i % 7}", at))


def test_rows_reported_by_the_writer_equal_sql_without_re_reading_and_reset_after_rollback(cap: int) -> None:
    """The pipeline reports each row it writes (``recorded``); answers stay exact, rollbacks via ``reset``."""
    rng = random.Random(5)
    conn = make_db()
    told, exact = AuditHistory(DecisionRows(conn)), AuditHistory(DecisionRows(conn))
    t = 1_700_000_000.0
    for i in range(400):
        t += rng.choice([1, 30, 600, 3600])
        at = t - rng.choice([0, 0, 0, 5000])
        service = rng.choice(["a", "b"])
        when = datetime.fromtimestamp(at, UTC)
        assert told(service, when) == exact._query(service, at), i
        if rng.random() < 0.05:  # the writer's transaction fails after reporting a row
            conn.execute("BEGIN")
            conn.execute("INSERT INTO decisions VALUES (?, 'CRITICAL', 'ghost', ?)", (service, at))
            told.recorded(service, "CRITICAL", "ghost", at)
            conn.execute("ROLLBACK")
            told.reset()
            continue
        severity = rng.choice(["NONE", "MODERATE", "MAJOR", "CRITICAL"])
        incident = f"inc-{rng.randint(0, 30)}"
        conn.execute("INSERT INTO decisions VALUES (?, ?, ?, ?)", (service, severity, incident, at))
        told.recorded(service, severity, incident, at)
    assert bool(told._by_sql) == (cap == 3)  # the capped run really went through the SQL path


def test_a_reported_row_is_counted_without_a_query() -> None:
    conn = make_db()
    history = AuditHistory(DecisionRows(conn))
    t = 1_700_000_000.0
    assert history("a", datetime.fromtimestamp(t, UTC))["major_1h"] == 0
    conn.execute("INSERT INTO decisions VALUES ('a', 'MAJOR', 'i1', ?)", (t,))
    history.recorded("a", "MAJOR", "i1", t)
    # a row written behind the writer's back is not seen: the writer is the only one reporting
    conn.execute("INSERT INTO decisions VALUES ('a', 'MAJOR', 'other', ?)", (t,))
    assert history("a", datetime.fromtimestamp(t + 1, UTC))["major_1h"] == 1


def test_memory_is_one_entry_per_distinct_incident_and_bounded() -> None:
    conn = make_db()
    history = AuditHistory(DecisionRows(conn))
    t = 1_700_000_000.0
    history("a", datetime.fromtimestamp(t, UTC))
    for i in range(5000):  # a storm of repeats of one open incident
        conn.execute("INSERT INTO decisions VALUES ('a', 'MAJOR', 'storm', ?)", (t + i,))
        history.recorded("a", "MAJOR", "storm", t + i)
    held = history._services["a"]
    assert [len(w) for w in held.by_severity["MAJOR"]] == [1, 1, 1]
    assert history("a", datetime.fromtimestamp(t + 5000, UTC))["major_1h"] == 1
    t += 10_000
    for i in range(history_module.MAX_HELD + 1):  # more distinct incidents than one service may hold
        history.recorded("a", "MODERATE", f"m{i}", t + i)
    conn.executemany("INSERT INTO decisions VALUES ('a', 'MODERATE', ?, ?)",
                     [(f"m{i}", t + i) for i in range(history_module.MAX_HELD + 1)])
    assert "a" not in history._services and "a" in history._by_sql  # nothing held; answered by SQL
    facts = history("a", datetime.fromtimestamp(t + history_module.MAX_HELD, UTC))
    assert facts["moderate_7d"] == history_module.MAX_HELD + 1 and facts["moderate_1h"] == 3600  # (now - 1h, now]
