"""The audit log: a real sqlite file, WAL, append-only, every row carrying the rules hash."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from core_util import RULES, SAMPLES

from engine.compiler.compile import compile_policy
from engine.compiler.validate import validate
from engine.run.pipeline import Pipeline
from engine.store.audit import SCHEMA, WAL_CHECKPOINT_PAGES, Audit


@pytest.fixture
def filled(tmp_path: Path) -> tuple[Audit, str, str]:
    policy, _ = validate(RULES)
    compiled = compile_policy(policy)
    db = tmp_path / "audit.db"
    audit = Audit(db)
    pipe = Pipeline(compiled, audit)
    for path in sorted(SAMPLES.glob("*.json")):
        assert pipe.process(path.name, path.read_bytes()).ok
    from engine.run.execute import Executor

    Executor(audit, compiled.policy, env={}).run_pending()  # attempts + results rows
    return audit, str(db), compiled.digest


def test_wal_and_tables(filled) -> None:
    audit, db, _ = filled
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert set(SCHEMA) <= tables


def test_service_lookups_use_the_composite_index_and_the_redundant_one_is_dropped(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE decisions (event_id TEXT PRIMARY KEY, service TEXT)")
    conn.execute("CREATE INDEX idx_decisions_service ON decisions (service)")  # as logs written before had it
    conn.commit()
    conn.close()
    audit = Audit(db)
    names = {r[0] for r in audit.conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert "idx_decisions_service" not in names and "idx_decisions_service_event_epoch" in names
    plan = " ".join(r[3] for r in audit.conn.execute(
        "EXPLAIN QUERY PLAN SELECT severity FROM decisions WHERE service = ?", ("a",)))
    assert "idx_decisions_service_event_epoch" in plan
    assert audit.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == WAL_CHECKPOINT_PAGES


def test_every_row_has_the_rules_hash_and_time(filled) -> None:
    audit, db, digest = filled
    conn = sqlite3.connect(db)
    for table, cols in SCHEMA.items():
        if "rules_hash" not in cols:
            continue
        rows = conn.execute(f"SELECT rules_hash, at FROM {table}").fetchall()
        assert all(h == digest and at for h, at in rows), table


def test_decisions_facts_firings_and_outbox(filled) -> None:
    audit, db, _ = filled
    conn = sqlite3.connect(db)
    sev = dict(conn.execute("SELECT event_id, severity FROM decisions").fetchall())
    assert sev == {"INC-2025-001": "CRITICAL", "INC-2025-002": "MAJOR", "INC-2025-003": "MODERATE",
                   "INC-2025-004": "NONE"}
    kinds = conn.execute("SELECT kind, count(*) FROM facts GROUP BY kind").fetchall()
    assert dict(kinds) == {"event": 4, "severity": 4}
    levels = dict(conn.execute("SELECT event_id, fact FROM facts WHERE kind = 'severity'").fetchall())
    assert {k: json.loads(v)["level"] for k, v in levels.items()} == sev
    assert set().union(*(json.loads(v) for v in levels.values())) <= {"level", "conditions", "derived"}
    firings = [r[0] for r in conn.execute("SELECT rule FROM firings WHERE event_id='INC-2025-001' ORDER BY seq")]
    assert firings[0] == "severity:service-unavailable"
    outbox = {(a, k) for a, k in conn.execute("SELECT action, kind FROM actions WHERE event_id='INC-2025-001'")}
    assert ("failover", "remediate") in outbox and ("pagerduty", "page") in outbox


def test_append_only_for_every_table(filled) -> None:
    _, db, _ = filled
    conn = sqlite3.connect(db)
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
              if not r[0].startswith("sqlite_")]
    assert set(SCHEMA) <= set(tables)
    for table in tables:
        if conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0:
            conn.execute(f"INSERT INTO {table} DEFAULT VALUES")  # give the triggers a row to protect
        _assert_refused(conn, table)


def _assert_refused(conn: sqlite3.Connection, table: str) -> None:
    col = conn.execute(f"SELECT * FROM {table} LIMIT 1").description[0][0]
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute(f"UPDATE {table} SET {col} = {col}")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute(f"DELETE FROM {table}")
    assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] > 0


def test_idempotency_key_is_requested_once_and_result_recorded_once(filled) -> None:
    from engine.run.execute import intent_from_json

    audit, db, digest = filled
    row = sqlite3.connect(db).execute("SELECT id, intent FROM actions ORDER BY id LIMIT 1").fetchone()
    assert audit.request_actions([intent_from_json(row[1])], "x", digest) == []  # same key: not requested again
    assert audit.record_result(row[0], "failed", "late", None, digest) is False  # already has its result
    assert audit.pending_actions() == []
    outcomes = dict(sqlite3.connect(db).execute("SELECT outcome, count(*) FROM results GROUP BY outcome").fetchall())
    assert outcomes["not-configured"] > 0 and outcomes["ok"] > 0


def test_duplicate_event_is_recorded_not_redecided(filled) -> None:
    audit, db, _ = filled
    policy, _ = validate(RULES)
    pipe = Pipeline(compile_policy(policy), audit)
    path = SAMPLES / "critical-service-outage.json"
    result = pipe.process("again.json", path.read_bytes())
    assert not result.ok and result.code == "duplicate"
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*) FROM decisions WHERE event_id='INC-2025-001'").fetchone()[0] == 1
    assert conn.execute("SELECT outcome FROM intake WHERE file='again.json'").fetchone()[0] == "duplicate"


def test_duplicate_within_one_batch_is_decided_once(tmp_path: Path) -> None:
    policy, _ = validate(RULES)
    audit = Audit(tmp_path / "audit.db")
    pipe = Pipeline(compile_policy(policy), audit)
    data = (SAMPLES / "moderate-degradation.json").read_bytes()
    first, second = pipe.process_batch([("a.json", data, None), ("b.json", data, None)])
    assert first.ok and first.decisions
    assert not second.ok and second.code == "duplicate" and not second.decisions
    conn = sqlite3.connect(tmp_path / "audit.db")
    assert conn.execute("SELECT count(*) FROM decisions").fetchone()[0] == 1
    assert conn.execute("SELECT file, outcome FROM intake ORDER BY id").fetchall() == [("a.json", "accepted"),
                                                                                       ("b.json", "duplicate")]


def test_unwritable_audit_log_is_a_clear_error(tmp_path: Path) -> None:
    from engine.model.errors import AuditError

    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(AuditError, match="cannot open audit log"):
        Audit(blocker / "sub" / "audit.db")


def test_firing_binding_refs_name_the_facts_the_engine_really_bound(tmp_path: Path) -> None:
    """The audit log's ``firings.bindings`` (derived from the stage) match durable-rules' activations."""
    import json

    from engine.store.audit import binding_refs

    policy, _ = validate(RULES)
    audit = Audit(tmp_path / "audit.db")
    pipe = Pipeline(compile_policy(policy), audit)
    stages = set()
    for path in sorted(SAMPLES.glob("*.json")):
        for decision in pipe.process(path.name, path.read_bytes()).decisions:
            for firing in decision.firings:
                real = {alias: {"fact": fact["t"]} for alias, fact in firing.bindings.items()}
                assert json.loads(binding_refs(firing.meta.stage)) == real, firing.meta.name
                stages.add(firing.meta.stage)
    assert stages == {"severity", "route", "notify", "remediate"}


def test_messages_are_rendered_only_for_requests_that_survive_suppression(tmp_path: Path) -> None:
    import json

    policy, _ = validate(RULES)
    pipe = Pipeline(compile_policy(policy), Audit(tmp_path / "audit.db"))
    doc = json.loads((SAMPLES / "critical-service-outage.json").read_bytes())
    doc.pop("expect", None)
    first = pipe.process("a.json", json.dumps(doc).encode()).decisions[0]
    repeat = pipe.process("b.json", json.dumps({**doc, "event_id": "again-1"}).encode()).decisions[0]
    assert first.notifications and all(n["message"].get("text") for n in first.notifications)
    sent = {i.action: i.message for i in first.intents if i.kind == "notify"}
    assert sent == {n["channel"]: n["message"] for n in first.notifications}  # the same rendered message
    assert repeat.suppression["outcome"] == "repeat" and repeat.intents == []
    assert repeat.notifications and all(n["message"] is None for n in repeat.notifications)
    stored = sqlite3.connect(tmp_path / "audit.db").execute(
        "SELECT notifications FROM decisions WHERE event_id = 'again-1'").fetchone()[0]
    assert all(n["message"] is None for n in json.loads(stored))
