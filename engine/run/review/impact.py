"""``rules impact``: what a rule change would have done to recorded events. Nothing is sent.

Every recorded event (an audit log, or a directory of event files) is decided twice, by the
*base* rule set and by the *head* one, each in the daemon's own pipeline on an in-memory audit log
and a virtual clock set to the recorded intake time. From an audit log the non-deterministic
inputs are the recorded ones: the model verdict of each decision, the acks and resolves (at their
times) and the ``history.*`` facts as they were when the event was decided
(:class:`engine.run.review.impact.RecordedHistory`); so the base side reproduces what production did.

Per event the two decisions are compared, kind by kind (:data:`KINDS`); the report counts the
events per kind of change with example ids, and the pages per deciding rule on each side.
"""

from __future__ import annotations

import contextlib
import gc
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.compiler.compile import CompiledPolicy
from engine.decide import Decider, Decision
from engine.decide import classify as intelligence
from engine.intake import IntakeError
from engine.run.pipeline import Pipeline
from engine.run.replay import VirtualClock
from engine.run.review.expect import observed
from engine.run.review.runner import first_time
from engine.store.audit import Audit
from engine.store.copy import AuditFactory
from engine.store.replay_audit import ReplayAudit

KINDS = ("severity", "rule", "owner", "route", "pages_added", "pages_removed", "escalation_timing", "remediation",
         "channels", "suppressed", "unsuppressed")
EXAMPLES = 5


@dataclass
class Item:
    kind: str  # event | ack | resolve
    name: str
    payload: bytes
    at: datetime | None = None
    event_id: str = ""
    model: tuple[str, float] | None = None
    decision_rowid: int | None = None


def summarize(decision: Decision) -> dict[str, Any]:
    """What a change is measured on, for one decision."""
    seen = observed(decision)
    pages = sorted({i.action for i in decision.intents or () if i.kind == "page"})
    return {
        "severity": seen["severity"], "rule": seen["rule"], "owner": seen["owner"], "level": seen["level"],
        "pages": pages, "steps": [(s["step"], s["after_seconds"]) for s in decision.escalation.get("steps", [])],
        "remediation": (seen["remediation"] or {}).get("action"), "channels": sorted(seen["channels"]),
        "suppressed": seen["suppressed"], "incident_id": seen["incident_id"],
    }


def changes(old: dict[str, Any] | None, new: dict[str, Any] | None) -> list[str]:
    """The kinds of change between two summaries of one event's decision."""
    if old is None or new is None:
        return [] if old is new else ["severity"]
    out = [k for k in ("severity", "rule", "owner", "remediation", "channels") if old[k] != new[k]]
    if old["level"] != new["level"] or old["pages"] != new["pages"] and old["pages"] and new["pages"]:
        out.append("route")
    if new["pages"] and not old["pages"]:
        out.append("pages_added")
    if old["pages"] and not new["pages"]:
        out.append("pages_removed")
    if old["pages"] and new["pages"] and old["steps"] != new["steps"]:
        out.append("escalation_timing")
    if old["suppressed"] == "none" and new["suppressed"] != "none":
        out.append("suppressed")
    if old["suppressed"] != "none" and new["suppressed"] == "none":
        out.append("unsuppressed")
    return out


class RecordedHistory:
    """``history.*`` as the recorded log had it when each event was decided: the recorded decisions
    before that event's own row, read by the same :class:`~engine.decide.history.AuditHistory` the
    daemon uses. ``store="memory"``: the rows are handed to it as they come (its writer's report,
    :meth:`~engine.decide.history.AuditHistory.recorded`) and held in
    :class:`~engine.store.memory_history.MemoryDecisionRows`; ``"sqlite"``: copied into an in-memory
    sqlite table it reads (:class:`engine.store.replay.RecordedDecisions`), the reference."""

    def __init__(self, conn: Any, store: str = "memory") -> None:
        from engine.decide.history import AuditHistory
        from engine.store.memory_history import MemoryDecisionRows
        from engine.store.replay import RecordedDecisions

        self.log: RecordedDecisions | None = None
        if store == "sqlite":
            self.log = RecordedDecisions(conn)
            self._history = AuditHistory(self.log.rows)
            return
        if store != "memory":
            raise ValueError(f"store must be 'memory' or 'sqlite', not {store!r}")
        self._rows = conn.execute("SELECT rowid, service, severity, incident_id, event_epoch FROM decisions "
                                  "ORDER BY rowid").fetchall()
        self._next = 0
        self._mem = MemoryDecisionRows()
        self._history = AuditHistory(self._mem)

    def before(self, decision_rowid: int | None) -> None:
        """Hand over the recorded rows written before ``decision_rowid`` (None: none more)."""
        if self.log is not None:
            self.log.advance(decision_rowid)
            return
        rows, n = self._rows, self._next
        if decision_rowid is None:
            return
        while n < len(rows) and rows[n][0] < decision_rowid:
            _, service, severity, incident, epoch = rows[n]
            self._mem.append(service, severity, incident, epoch)
            self._history.recorded(service, severity, incident, epoch)
            n += 1
        self._next = n

    def __call__(self, service: str, at: datetime) -> dict[str, Any]:
        return self._history(service, at)


class _Recorded:
    """A classifier that answers each event with the verdict recorded for it (absent: unavailable)."""

    labels = ("NONE", "MODERATE", "MAJOR", "CRITICAL")

    def __init__(self, verdicts: dict[str, tuple[str, float]]) -> None:
        self.verdicts = verdicts

    def probabilities(self, event: Any) -> dict[str, float]:
        label, confidence = self.verdicts.get(event.event_id, ("NONE", 0.25))
        rest = (1.0 - confidence) / 3
        return {s: (confidence if s == label else rest) for s in self.labels}


class Unrendered(Decider):
    """The daemon's decider without the message templates: a summary compares no message text, and
    rendering is about a seventh of a replayed decision. Every decision, intent, step and suppression is
    the same; only the messages the intents would carry are empty."""

    def _render(self, channel: str, severity: str, ctx: dict[str, Any], problems: list[str]) -> dict[str, Any]:
        return {}


STORES = ("memory", "sqlite")


class Side:
    """One rule set's replay: the daemon's pipeline on its own audit log and virtual clock.

    ``store``: where the audit log and the suppression state live: ``"memory"``
    (:class:`~engine.store.replay_audit.ReplayAudit`) or ``"sqlite"`` (an in-memory sqlite audit log, the
    daemon's own tables: the reference; tests/review/test_impact_store.py holds the two equal)."""

    def __init__(self, compiled: CompiledPolicy, *, model: Any, history_factory: Any = None,
                 store: str = "memory") -> None:
        self.clock = VirtualClock(datetime(2000, 1, 1, tzinfo=UTC))
        self.factory: AuditFactory | None = None
        if store == "memory":
            self.audit: Audit = ReplayAudit(self.clock.now)
        elif store == "sqlite":
            self.factory = AuditFactory()
            self.audit = self.factory.new(self.clock.now)
        else:
            raise ValueError(f"store must be one of {', '.join(STORES)}, not {store!r}")
        decider = Unrendered(compiled, model=model)
        self.pipeline = Pipeline(compiled, self.audit, decider=decider)
        self.history = history_factory() if history_factory is not None else None
        if self.history is not None:
            decider.history = self.history
        self.out: dict[str, dict[str, Any]] = {}  # event id → summary of its decision

    def parse(self, data: bytes) -> list[Any] | None:
        """The body's items as this pipeline parses them; None when it refuses the body (it is then
        parsed again, and recorded as failed, when decided)."""
        try:
            return self.pipeline.parse(data)
        except IntakeError:
            return None

    def parses_as(self, other: Side) -> bool:
        """A body parses the same here and in ``other``: same labels read, same size limits."""
        a, b = self.pipeline, other.pipeline
        return (a.read_labels, a.max_body_bytes, a.max_event_bytes) == (b.read_labels, b.max_body_bytes,
                                                                        b.max_event_bytes)

    def step(self, item: Item, parsed: list[Any] | None = None) -> None:
        """Decide one item at its recorded time (``parsed``: its body, already parsed by :meth:`parse`)."""
        self.clock.set(item.at or first_time(item.payload) or self.clock.at)
        if self.history is not None:
            self.history.before(item.decision_rowid)
        for decision in self.pipeline.process(item.name, item.payload, items=parsed).decisions:
            self.out[decision.event_id] = summarize(decision)

    def close(self) -> None:
        self.audit.close()
        if self.factory is not None:
            self.factory.close()


@contextlib.contextmanager
def collecting_less() -> Iterator[None]:
    """The cyclic garbage collector out of a replay's way: what exists before it (the recorded items, the
    compiled rule sets) is frozen out of its scans, and it runs every 50,000 net allocations instead of 700
    (a replayed event allocates a few hundred containers and leaves no cycles behind). Measured on 10,000
    events, both rule sets: 0.90 s of 10.4 s CPU in collections before, 0.17 s after."""
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def replay(compiled: CompiledPolicy, items: list[Item], *, model: Any, history_factory: Any = None,
           store: str = "memory") -> dict[str, dict[str, Any]]:
    """Decide every item in order with ``compiled``; ``{event_id: summary}`` of each decision (see :class:`Side`)."""
    side = Side(compiled, model=model, history_factory=history_factory, store=store)
    try:
        with collecting_less():
            for item in items:
                side.step(item)
    finally:
        side.close()
    return side.out


def replay_pair(base: CompiledPolicy, head: CompiledPolicy, items: list[Item], *, model: Any,
                history_factory: Any = None, store: str = "memory") -> tuple[dict[str, dict[str, Any]], ...]:
    """``(replay(base), replay(head))`` in one process, item by item: each body is parsed once for both
    (when both rule sets read the same labels), and nothing parsed outlives its item."""
    sides = [Side(c, model=model, history_factory=history_factory, store=store) for c in (base, head)]
    try:
        shared = sides[0].parses_as(sides[1])
        with collecting_less():
            for item in items:
                parsed = sides[0].parse(item.payload) if shared else None
                for side in sides:
                    side.step(item, parsed)
    finally:
        for side in sides:
            side.close()
    return sides[0].out, sides[1].out


@dataclass
class Impact:
    events: int
    by_kind: dict[str, list[str]] = field(default_factory=dict)  # kind → event ids
    pages_base: Counter[str] = field(default_factory=Counter)  # deciding rule → paged decisions
    pages_head: Counter[str] = field(default_factory=Counter)
    changed: dict[str, list[str]] = field(default_factory=dict)  # event id → kinds
    details: dict[str, dict[str, Any]] = field(default_factory=dict)  # event id → {base, head}

    def as_dict(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "changed_events": len(self.changed),
            "changes": {k: {"count": len(v), "examples": v[:EXAMPLES]} for k, v in self.by_kind.items() if v},
            "pages_per_rule": {r: {"base": self.pages_base.get(r, 0), "head": self.pages_head.get(r, 0)}
                               for r in sorted(set(self.pages_base) | set(self.pages_head))},
            "changed": [{"event_id": e, "kinds": k, **self.details[e]} for e, k in self.changed.items()],
        }


def compare(base: dict[str, dict[str, Any]], head: dict[str, dict[str, Any]]) -> Impact:
    ids = list(dict.fromkeys([*base, *head]))
    impact = Impact(len(ids), {k: [] for k in KINDS})
    for eid in ids:
        old, new = base.get(eid), head.get(eid)
        for side, counter in ((old, impact.pages_base), (new, impact.pages_head)):
            if side is not None and side["pages"]:
                counter[side["rule"]] += 1
        kinds = changes(old, new)
        if kinds:
            impact.changed[eid] = kinds
            impact.details[eid] = {"base": old, "head": new}
            for k in kinds:
                impact.by_kind[k].append(eid)
    return impact


def over_budget(impact: Impact, budget: dict[str, Any]) -> list[str]:
    """Each kind whose count exceeds ``budget['max'][kind]`` (a kind not listed is unlimited)."""
    out = []
    for kind, limit in (budget.get("max") or {}).items():
        n = len(impact.by_kind.get(kind, []))
        if n > int(limit):
            out.append(f"{kind}: {n} event(s) changed, budget {limit}")
    return out


def verdicts_model(items: list[Item]) -> Any:
    from engine.decide.classify import ModelState

    verdicts = {i.event_id: i.model for i in items if i.kind == "event" and i.model is not None}
    return ModelState(_Recorded(verdicts), "recorded")  # type: ignore[arg-type]


def event_file_items(paths: list[Path]) -> list[Item]:
    from engine.run.simulate import event_files

    return [Item("event", str(p), p.read_bytes()) for p in event_files(paths)]


def configured_model(model: str | None) -> Any:
    return intelligence.NO_MODEL if model == "none" else intelligence.load_model(model)
