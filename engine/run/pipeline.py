"""One event file through the whole pipeline: intake → decide → audit, in one transaction.

:class:`Pipeline` is shared by ``rules run`` (audit on disk, actions executed afterwards
from the outbox) and ``rules simulate`` (audit in memory, actions previewed only), so both
run exactly the same code up to the side effects.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.compiler.compile import CompiledPolicy
from engine.decide import Decider, Decision
from engine.decide.classify import ModelState
from engine.decide.escalation import due
from engine.decide.history import AuditHistory
from engine.intake import IntakeError, Quarantined, parse
from engine.intake.normalize import keeping
from engine.model.event import Acknowledgement, Event, event_json
from engine.model.firing import selected
from engine.run.acknowledge import Unmatched, acknowledge
from engine.run.skew import bound, describe
from engine.store.audit import Audit
from engine.suppress.stage import SuppressionStage

MAX_EVENT_BYTES = 1_048_576  # per event (an alert of a group, an item of a list, a single-event body)
# per file or HTTP body: an Alertmanager group of 10,000 alerts (~570 bytes each with Prometheus'
# generatorURL) is ~6 MB, and a body refused as a whole is lost whole (Alertmanager never retries a 4xx)
MAX_BODY_BYTES = 32 * 1_048_576
Item = Event | Acknowledgement | Quarantined  # what a body parses into
logger = logging.getLogger("escalation_handlers.daemon")


@dataclass
class FileResult:
    name: str
    ok: bool
    reason: str = ""
    code: str = ""
    decisions: list[Decision] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    acknowledgements: list[Acknowledgement] = field(default_factory=list)
    quarantined: list[Quarantined] = field(default_factory=list)  # items left out (and notices), recorded
    skewed: int = 0  # items stamped further ahead of intake than the bound (decided at intake time)


class Pipeline:
    def __init__(self, compiled: CompiledPolicy, audit: Audit, *, max_event_bytes: int = MAX_EVENT_BYTES,
                 model: ModelState | str | None = None, decider: Decider | None = None,
                 max_body_bytes: int = MAX_BODY_BYTES, max_clock_skew: float | None = None) -> None:
        """``decider``: one already built for ``compiled`` (``rules test`` shares one between its cases:
        building the templates is most of the cost); it is re-pointed at this audit log's history.
        ``max_body_bytes`` limits a whole file or body, ``max_event_bytes`` each event in it;
        ``max_clock_skew``: seconds an item may be stamped ahead of intake (None: unbounded, for replays)."""
        self.compiled = compiled
        self.max_clock_skew = max_clock_skew
        # history.* facts come from this audit log (sqlite is the truth: they survive a restart)
        self.history = AuditHistory(audit.history_rows())
        if decider is None:
            decider = Decider(compiled, model=model, history=self.history)
        decider.history = self.history
        self.decider = decider
        self.audit = audit
        if compiled.policy.rules_commit:  # rules_hash → Git commit, for the incident view and simulate
            audit.record_rules_version(compiled.digest, compiled.policy.rules_commit)
        self.max_event_bytes = max_event_bytes
        self.max_body_bytes = max(max_body_bytes, max_event_bytes)
        # labels the rules read are kept first when an event has more than the label cap
        self.read_labels = frozenset(p.removeprefix("labels.") for p in compiled.event_paths
                                     if p.startswith("labels."))
        self._decided: set[str] = set()  # event ids decided before or within the current batch
        # noise suppression + fusion; its index is rebuilt from the audit log's tables (survives restart)
        store = audit.incident_store(self.rules_hash)
        self.suppression = SuppressionStage(compiled.policy.suppression, store,
                                            self.decider.decide)

    @property
    def rules_hash(self) -> str:
        return self.compiled.digest

    def reject(self, name: str, code: str, reason: str) -> None:
        self.audit.record_intake(name, "failed", code=code, reason=reason, rules_hash=self.rules_hash)

    def parse(self, data: bytes) -> list[Item]:
        """The body's items; a bad item of a group is quarantined in its place (raises only for the body)."""
        with keeping(self.read_labels):
            return parse(data, max_bytes=self.max_body_bytes, max_item_bytes=self.max_event_bytes, quarantine=True)

    def process(self, name: str, data: bytes, *, items: list[Item] | None = None) -> FileResult:
        """Parse, decide and record one file. Never raises for bad input.

        ``items``: the already parsed ``data`` (the daemon parses a batch first to order it)."""
        return self.process_batch([(name, data, items)])[0]

    def process_batch(self, files: list[tuple[str, bytes, list[Item] | None]]) -> list[FileResult]:
        """Several files in ONE transaction (group commit): all their rows commit together or not at all.

        The batch's events are classified in one vectorised pass. A file that fails intake is recorded
        as failed and does not affect the others; an exception (a bug, the disk) rolls back the batch.
        """
        parsed: list[tuple[str, list[Item] | None, FileResult]] = []
        for name, data, items in files:
            try:
                items = self.parse(data) if items is None else items
                parsed.append((name, items, FileResult(name, True)))
            except IntakeError as exc:
                parsed.append((name, None, FileResult(name, False, exc.reason, exc.code)))
        self.decider.prime([i for _, items, _ in parsed for i in items or () if isinstance(i, Event)])
        try:
            self._batch(parsed)
        finally:
            self.decider.prime([])
        for _, _, result in parsed:
            if result.duplicates and not result.decisions and not result.acknowledgements:
                result.ok, result.code = False, "duplicate"
                result.reason = f"duplicate event_id {', '.join(result.duplicates)}: already decided, not re-decided"
        return [result for _, _, result in parsed]

    def _batch(self, parsed: list[tuple[str, list[Item] | None, FileResult]]) -> None:
        with self.audit.transaction(on_rollback=self._rolled_back):
            # decided before this batch; the batch adds its own as it goes (a repeat within it is a duplicate)
            self._decided = self.audit.seen_many([i.event_id for _, items, _ in parsed for i in items or ()
                                                  if isinstance(i, Event)])
            for name, items, result in parsed:
                if items is None:
                    self.audit.record_intake(name, "failed", code=result.code, reason=result.reason,
                                             rules_hash=self.rules_hash)
                    continue
                if not items:  # e.g. ``"alerts": []``: nothing to decide, but the body leaves a trace
                    self.audit.record_intake(name, "empty", code="no-events", reason="the body holds no events",
                                             rules_hash=self.rules_hash)
                    continue
                for item in sorted(items, key=_time_order):
                    if isinstance(item, Quarantined):
                        self.audit.record_intake(name, item.outcome, code=item.code, reason=item.reason,
                                                 rules_hash=self.rules_hash)
                        result.quarantined.append(item)
                        continue
                    self._one(name, item, result)

    def _rolled_back(self) -> None:
        self.suppression.reload()  # its in-memory index must match what was committed
        self.history.reset()

    def _one(self, name: str, item: Event | Acknowledgement, result: FileResult) -> None:
        skew = ""
        if self.max_clock_skew is not None:
            original = item.timestamp
            item, ahead = bound(item, datetime.fromisoformat(self.audit.clock()), self.max_clock_skew)
            if ahead is not None:
                result.skewed += 1
                skew = describe(original, ahead, self.max_clock_skew)
        if isinstance(item, Acknowledgement):
            try:  # stops pending steps; acks/resolves upstream pagers
                acknowledge(self.audit, item, self.rules_hash, strict=True)
            except Unmatched as exc:  # recorded (intake), counted (failures{code}), logged: never silent
                self.audit.record_intake(name, "failed", event_id=item.event_id, code=exc.code,
                                         reason=str(exc), rules_hash=self.rules_hash)
                what = f"unmatched {item.type}" if exc.code == "unmatched-ack" else f"{item.type} refused"
                logger.warning("%s: %s", what, exc, extra={"event": exc.code, "source": item.source})
                result.ok, result.code, result.reason = False, exc.code, str(exc)
                return
            matched = self.audit.incident_updates_by_event(item.event_id) or item.incident_id
            item = item.model_copy(update={"incident_id": matched})
            self.audit.record_intake(name, "accepted", event_id=item.event_id, code=item.type,
                                     reason=f"{item.type} of {item.incident_id} by {item.by}" + (f"; {skew}" if skew
                                                                                                 else ""),
                                     rules_hash=self.rules_hash)
            if item.type == "resolve":  # the next firing of its fingerprints is a new incident, not a repeat
                self.suppression.close_incident(item.incident_id, item.event_id, item.timestamp.timestamp(),
                                                f"resolved by {item.by} via {item.source}")
            result.acknowledgements.append(item)
            return
        if item.event_id in self._decided:
            self.audit.record_intake(name, "duplicate", event_id=item.event_id, code="duplicate",
                                     reason="event_id already decided", rules_hash=self.rules_hash)
            result.duplicates.append(item.event_id)
            return
        # messages are rendered after suppression, only for the requests it lets through
        self._decided.add(item.event_id)
        verdict = self.suppression.assess(item, self.decider.decide(item, render=False))  # may re-decide
        decision = self.decider.finish(verdict.decision)
        self.audit.record_intake(name, "accepted", event_id=item.event_id, code="clock-skew" if skew else "",
                                 reason=skew, rules_hash=self.rules_hash)
        fact = decision.fact
        # The severity fact as the engine asserted it: the level it chose (a fused incident's forced severity
        # is the decision's, not a fact) and the event fields the remediation rules read.
        chosen = selected(decision.firings, "severity")
        facts: list[tuple[str, dict[str, Any]]] = [("event", fact)]
        if chosen is not None:
            facts.append(("severity", {**(chosen.asserted or {}), "level": chosen.meta.severity}))
        # Steps are timed from intake, not from the event's timestamp: a late or replayed event must
        # still give the primary the whole escalation_delay before the backup is paged. A hold (group_wait,
        # fusion hold, a scheduled group update) is an offset from the event, so it is added to intake too.
        self.audit.record_decision(decision, event_json(item, decision.event_doc), facts,
                                   due=due(decision.escalation, self.audit.clock(), verdict.delay))
        if self.audit.last_decision is not None:
            self.history.recorded(*self.audit.last_decision)  # the only writer: history needs no re-read
        if verdict.outcome == "closed":  # a monitor's resolve: same path as an operator's (stops pending steps)
            closed = Acknowledgement(type="resolve", event_id=item.event_id, incident_id=verdict.incident_id,
                                     by=item.source, timestamp=item.timestamp, source="monitor", note=verdict.reason)
            acknowledge(self.audit, closed, self.rules_hash)
        result.decisions.append(decision)

    def tick(self, now: datetime) -> None:
        """Expire fusion windows up to ``now`` without an event (the daemon's idle loop may call it)."""
        with self.audit.transaction(on_rollback=self.suppression.reload):
            self.suppression.sweep(now.timestamp())


def _time_order(item: Item) -> float:
    """Quarantined items and notices first (they decide nothing), then events in timestamp order."""
    return -math.inf if item.timestamp is None else item.timestamp.timestamp()
