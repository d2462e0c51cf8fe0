"""Run test cases on a virtual clock: the loop ``rules simulate`` and ``rules test`` share.

:func:`play` takes one intake file (an event, a list of events, an ack) through the daemon's
:class:`~engine.pipeline.Pipeline` at a virtual time, plays each decision's escalation timeline
(scripted acks and resolves, due steps) and compares every decision that has an expectation.
``rules simulate`` calls it once per file on one audit log; :class:`Runner` calls it once per
event of a case, each case on a fresh in-memory audit log (cases do not see each other's
history) with one shared :class:`~engine.decide.Decider` (its templates are compiled once).

An observer (``observe(decision)``) sees every decision; a decider observer (``observer(stage, draft)``,
:data:`engine.decide.Observer`) sees every stage of every draft: :mod:`engine.run.review.coverage` uses that.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.compiler.compile import CompiledPolicy
from engine.decide import Decider, Decision
from engine.decide import Observer as StageObserver
from engine.decide import classify as intelligence
from engine.intake import IntakeError, parse
from engine.run import replay as timeline
from engine.run.pipeline import Pipeline
from engine.run.replay import VirtualClock
from engine.run.review.cases import Case, fixed_model
from engine.run.review.expect import compare
from engine.store.copy import AuditFactory

Observer = Callable[[Decision], None]


@dataclass
class Played:
    """One file through :func:`play`: its decisions with their timelines, and what did not match."""

    decisions: list[tuple[Decision, list[dict[str, Any]]]] = field(default_factory=list)
    error: str = ""
    mismatches: list[str] = field(default_factory=list)
    verdicts: dict[str, bool] = field(default_factory=dict)  # event_id → its expectation held


def first_time(data: bytes) -> datetime | None:
    """The earliest item time in a file: where the virtual clock starts for it."""
    try:
        times = [item.timestamp for item in parse(data) if item.timestamp is not None]
        return min(times, default=None)
    except IntakeError:
        return None


def play(pipeline: Pipeline, clock: VirtualClock, name: str, data: bytes, expectations: dict[str, dict[str, Any]],
         script: timeline.Script | None = None, observe: Observer | None = None) -> Played:
    """Decide ``data`` at its own time, play each incident forward, compare with ``expectations``."""
    start = first_time(data) or clock.at
    clock.set(start)
    result = pipeline.process(name, data)
    out = Played(error="" if result.ok else result.reason)
    for decision in result.decisions:
        if observe is not None:
            observe(decision)
        expect = expectations.get(decision.event_id)
        given = timeline.script_for(script, decision.incident_id, decision.event_id)
        steps = given if given is not None else timeline.parse_script((expect or {}).get("script") or [])["*"]
        played = timeline.run(pipeline, pipeline.audit, clock, decision.incident_id, start, steps)
        out.decisions.append((decision, played))
        if expect:
            found = compare({k: v for k, v in expect.items() if k != "timeline" or given is None}, decision, played)
            out.mismatches += [f"{decision.event_id}: {m}" for m in found]
            out.verdicts[decision.event_id] = not found
    missing = [e for e in expectations if e not in out.verdicts and not result.ok]
    out.verdicts.update({e: False for e in missing})
    return out


@dataclass
class CaseResult:
    case: Case
    status: str  # PASS | FAIL | ERROR
    diffs: list[str] = field(default_factory=list)
    seconds: float = 0.0
    decisions: list[dict[str, Any]] = field(default_factory=list)


class Runner:
    """Cases against one compiled policy; ``model`` is the default verdict source (as for simulate)."""

    def __init__(self, compiled: CompiledPolicy, *, model: str | None = None, observe: Observer | None = None,
                 observer: StageObserver | None = None) -> None:
        self.compiled = compiled
        self._model_arg = model
        self._configured: intelligence.ModelState | None = None
        self.observe = observe
        self.decider = Decider(compiled, model=intelligence.NO_MODEL, observer=observer)
        self._audits = AuditFactory()

    def _model(self, spec: Any) -> intelligence.ModelState:
        if spec == "none":
            return intelligence.NO_MODEL
        if isinstance(spec, dict):
            return fixed_model(spec["label"], float(spec["confidence"]))
        if self._configured is None:  # the configured model, loaded only when a case uses it
            self._configured = intelligence.load_model(self._model_arg)
        return self._configured

    def run(self, case: Case) -> CaseResult:
        began = time.perf_counter()
        if case.error:
            return CaseResult(case, "ERROR", [case.error], time.perf_counter() - began)
        clock = VirtualClock(case.start)
        audit = self._audits.new(clock.now)
        try:
            self.decider.model = self._model(case.model)
            pipeline = Pipeline(self.compiled, audit, decider=self.decider)
            diffs: list[str] = []
            errors: list[str] = []
            checked = 0
            docs: list[dict[str, Any]] = []
            for item in case.items:
                played = play(pipeline, clock, item.name, item.data, item.expect, observe=self.observe)
                if played.error and (item.expect or not played.decisions):
                    errors.append(f"{item.name}: rejected: {played.error}")
                diffs += played.mismatches
                checked += len(played.verdicts)
                for decision, steps in played.decisions:
                    docs.append({"event_id": decision.event_id, "severity": decision.severity,
                                 "incident_id": decision.incident_id, "timeline": steps})
        finally:
            audit.close()
        status = "ERROR" if errors else ("FAIL" if diffs else ("PASS" if checked else "ERROR"))
        if not errors and not checked:
            errors.append("no expectation was checked: give 'expect' for at least one event")
        return CaseResult(case, status, errors + diffs, time.perf_counter() - began, docs)

    def run_all(self, cases: list[Case]) -> list[CaseResult]:
        return [self.run(c) for c in cases]
