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
from engine.audit import Audit
from engine.compile import compile_policy
from engine.execute import Executor
from engine.pipeline import Pipeline
from engine.validate import validate


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
