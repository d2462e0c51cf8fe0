"""Every action's life is in the audit log: requested, each attempt started and finished, outcome."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import ClassVar

import pytest
from core_util import RULES, SAMPLES

from actions.base import ActionFailed, Intent, Outcome, Request
from actions.registry import Registry, default_registry
from actions.retry import RetryPolicy
from engine.compiler.compile import compile_policy
from engine.compiler.validate import validate
from engine.run.execute import Executor
from engine.run.pipeline import Pipeline
from engine.store.audit import Audit


class Flaky:
    """Fails with a retryable error, then succeeds; or simulates a crash in the middle of a send."""

    name: ClassVar[str] = "pagerduty"
    schema: ClassVar[str] = "actions/log.schema.json"
    env_vars: ClassVar[tuple[str, ...]] = ()
    crash = False

    def __init__(self, config, env) -> None:
        self.sent = 0

    def configured(self):
        return None

    def render(self, intent: Intent) -> Request:
        return Request("pagerduty", "POST", "http://127.0.0.1/enqueue", {"k": intent.incident_id},
                       intent.idempotency_key)

    def send(self, request: Request) -> Outcome:
        self.sent += 1
        if Flaky.crash:
            raise KeyboardInterrupt  # the process dies after the request left, before any answer
        if self.sent == 1:
            raise ActionFailed("HTTP 503", retryable=True, reason="serverError", status=503)
        return Outcome("ok", detail="accepted")


@pytest.fixture
def decided(tmp_path: Path):
    policy, _ = validate(RULES)
    compiled = compile_policy(policy)
    audit = Audit(tmp_path / "audit.db")
    path = SAMPLES / "critical-service-outage.json"
    assert Pipeline(compiled, audit).process(path.name, path.read_bytes()).ok
    builtins = default_registry()
    registry = Registry({n: builtins.get(n) for n in builtins.names() if n != "pagerduty"})
    registry.register(Flaky)
    executor = Executor(audit, compiled.policy, registry=registry, env={}, sleep=lambda s: None,
                        retry=RetryPolicy(max_attempts=3))
    return audit, executor, tmp_path / "audit.db"


def test_started_finished_and_outcome_rows(decided) -> None:
    audit, executor, db = decided
    Flaky.crash = False
    executor.run_pending()
    conn = sqlite3.connect(db)
    (action_id,) = conn.execute("SELECT id FROM actions WHERE action='pagerduty' AND step=0").fetchone()
    starts = conn.execute("SELECT attempt, at FROM starts WHERE action_id=? ORDER BY id", (action_id,)).fetchall()
    attempts = conn.execute("SELECT attempt, ok, reason, at FROM attempts WHERE action_id=? ORDER BY id",
                            (action_id,)).fetchall()
    assert [s[0] for s in starts] == [1, 2]
    assert [(a[0], a[1], a[2]) for a in attempts] == [(1, 0, "serverError"), (2, 1, None)]
    assert all(s[1] <= a[3] for s, a in zip(starts, attempts, strict=True))
    assert conn.execute("SELECT outcome FROM results WHERE action_id=?", (action_id,)).fetchone()[0] == "ok"


def test_a_send_interrupted_by_a_crash_leaves_a_start_and_stays_pending(decided) -> None:
    audit, executor, db = decided
    Flaky.crash = True
    try:
        with pytest.raises(KeyboardInterrupt):
            executor.run_pending()
    finally:
        Flaky.crash = False
    conn = sqlite3.connect(db)
    (action_id,) = conn.execute("SELECT action_id FROM starts").fetchone()
    assert conn.execute("SELECT count(*) FROM attempts WHERE action_id=?", (action_id,)).fetchone()[0] == 0
    assert action_id in {row["id"] for row in audit.pending_actions()}  # sent again after the restart


class Witness(Flaky):
    """Looks at the database from another connection at the moment of the send."""

    seen: ClassVar[list[tuple[int, int]]] = []
    db: ClassVar[str] = ""

    def send(self, request: Request) -> Outcome:
        other = sqlite3.connect(Witness.db)
        Witness.seen.append((other.execute("SELECT count(*) FROM results").fetchone()[0],
                             other.execute("SELECT count(*) FROM starts").fetchone()[0]))
        return Outcome("ok", detail="accepted")


def test_results_held_in_a_transaction_are_committed_before_a_send(decided) -> None:
    """The daemon groups no-side-effect results in one transaction; a send must never run while
    earlier rows are uncommitted, and its ``starts`` row must be durable before it."""
    audit, executor, db = decided
    Witness.db, Witness.seen = str(db), []
    executor.registry.register(Witness)
    executor._adapters.clear()
    rows = audit.pending_actions()
    quiet = next(r for r in rows if r["action"] != "pagerduty")  # env={}: not configured, sends nothing
    page = next(r for r in rows if r["action"] == "pagerduty")
    audit.begin()
    executor.run_one(quiet)  # its result is held in the open transaction ...
    assert sqlite3.connect(db).execute("SELECT count(*) FROM results").fetchone()[0] == 0
    executor.run_one(page)  # ... and committed before the page is sent
    assert not audit.conn.in_transaction
    assert Witness.seen == [(1, 1)]  # at the send: the earlier result and this send's start row are durable
    assert audit.count("results") == 2
