"""Helpers: the shipped policy with a test's own suppression file, events on a virtual clock."""

from __future__ import annotations

import inspect
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from engine.compiler.compile import compile_policy
from engine.compiler.validate import validate
from engine.run.pipeline import Pipeline
from engine.run.replay import VirtualClock
from engine.store.audit import Audit

RULES = Path(__file__).resolve().parents[2] / "rules"
T0 = datetime(2025, 1, 6, 10, 0, tzinfo=UTC)  # a Monday


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


class Harness:
    def __init__(self, tmp: Path, suppression: str) -> None:
        self.rules = tmp / "rules"
        self.rules.mkdir(parents=True)
        for f in RULES.glob("*.yaml"):
            if f.name != "suppression.yaml":
                shutil.copy(f, self.rules / f.name)
        (self.rules / "suppression.yaml").write_text("kind: suppression\nversion: 1\n" + suppression)
        policy, diags = validate(self.rules)
        assert policy is not None, [d.text() for d in diags]
        self.compiled = compile_policy(policy)
        self.db = tmp / "audit.db"
        # the audit log's (intake) clock: by default an event is taken in at its own timestamp (send sets it)
        self.clock = VirtualClock(T0)
        self.pipeline = self.restart()

    def restart(self) -> Pipeline:
        self.audit = Audit(self.db, clock=self.clock.now)
        # the severity model is not what these tests are about: keep it out when the pipeline takes one
        extra = {"model": "disabled"} if "model" in inspect.signature(Pipeline).parameters else {}
        self.pipeline = Pipeline(self.compiled, self.audit, **extra)
        return self.pipeline

    def send(self, event_id: str, seconds: float, *, intake: float | None = None, **fields: Any) -> Any:
        """``intake``: when the event is taken in (seconds from T0); default its own timestamp."""
        self.clock.set(T0 + timedelta(seconds=seconds if intake is None else intake))
        doc = {"event_id": event_id, "timestamp": at(seconds), "service": "checkout-api", "source": "test",
               "title": "Elevated error rate", "metrics": {"error_rate": 0.02}, **fields}
        result = self.pipeline.process(f"{event_id}.json", json.dumps(doc).encode())
        assert result.ok, result.reason
        (decision,) = result.decisions
        return decision

    def pages(self, incident_id: str | None = None) -> list[tuple[str, str, str]]:
        """(incident, action, severity) of first-step pages requested and not superseded."""
        rows = self.audit.conn.execute(
            "SELECT a.incident_id, a.action, a.intent FROM actions a WHERE a.kind = 'page' AND a.step = 0 "
            "AND NOT EXISTS (SELECT 1 FROM results r WHERE r.action_id = a.id AND r.outcome = 'superseded') "
            "ORDER BY a.id").fetchall()
        out = [(i, a, json.loads(t)["severity"]) for i, a, t in rows]
        return [p for p in out if incident_id is None or p[0] == incident_id]

    def actions(self, kind: str) -> list[dict[str, Any]]:
        rows = self.audit.conn.execute("SELECT incident_id, action, step, due_at FROM actions WHERE kind = ? "
                                       "ORDER BY id", (kind,)).fetchall()
        return [dict(zip(("incident_id", "action", "step", "due_at"), r, strict=True)) for r in rows]

    def suppressions(self, event_id: str) -> list[tuple[str, str, str]]:
        return self.audit.conn.execute("SELECT outcome, mechanism, reason FROM suppressions WHERE event_id = ?",
                                       (event_id,)).fetchall()


@pytest.fixture
def harness(tmp_path: Path):
    made: list[Harness] = []

    def make(suppression: str) -> Harness:
        h = Harness(tmp_path / f"h{len(made)}", suppression)
        made.append(h)
        return h

    yield make
    for h in made:
        h.audit.close()
