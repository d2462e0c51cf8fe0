"""Decide one event: post it to the engine, turn the firings into a :class:`Decision`.

Takes a validated :class:`~engine.model.event.Event`, returns the decision (severity, fired rules
and why, owner, escalation plan, remediation, rendered notifications) and the
:class:`~actions.base.Intent` list the executor will carry out. Pure apart from the engine
itself: no I/O, so ``simulate`` and ``run`` share it unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from actions.base import Intent
from engine.compiler import conditions, templates
from engine.compiler.compile import CompiledPolicy
from engine.decide import classify as intelligence
from engine.decide.classify import ModelState
from engine.decide.escalation import PlannedStep, page_intents
from engine.decide.escalation import plan as escalation_plan
from engine.decide.history import HistoryProvider
from engine.durable import Engine, event_fact
from engine.model.event import Event, event_document
from engine.model.firing import Firing, selected
from engine.model.policy import Level
from engine.model.schedule import Owner, OwnerCache


@dataclass
class Decision:
    event_id: str
    incident_id: str
    service: str
    severity: str
    confidence: float | None
    firings: list[Firing]
    owner: Owner
    escalation: dict[str, Any]
    remediation: dict[str, Any] | None
    notifications: list[dict[str, Any]]
    intents: list[Intent]
    rules_hash: str
    event_doc: dict[str, Any]
    problems: list[str] = field(default_factory=list)  # e.g. a template that failed at run time
    model: dict[str, Any] = field(default_factory=dict)  # {label, confidence, version}; see engine.decide.classify
    suppression: dict[str, Any] | None = None  # what the suppression stage did (engine.suppress)
    fact: dict[str, Any] = field(default_factory=dict, repr=False)  # the event fact posted to the engine
    build: Callable[[], list[Intent]] | None = field(default=None, repr=False)  # see Decider.finish

    @property
    def model_version(self) -> str:
        return str(self.model.get("version") or "")

    @property
    def disagrees(self) -> bool:
        """The model is available and its label differs from the rules' severity."""
        return self.model.get("label") is not None and self.model["label"] != self.severity

    @property
    def fired_rules(self) -> list[str]:
        return [f.meta.name for f in self.firings]

    def as_dict(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "incident_id": self.incident_id,
            "service": self.service,
            "severity": self.severity,
            "confidence": self.confidence,
            "fired_rules": self.fired_rules,
            "firings": [explain_firing(f, self.event_doc) for f in self.firings],
            "owner": self.owner.as_dict(),
            "escalation": self.escalation,
            "remediation": self.remediation,
            "notifications": self.notifications,
            "rules_hash": self.rules_hash,
            "problems": self.problems,
            "suppression": self.suppression,
            "model": self.model,
        }


class Later(list):  # type: ignore[type-arg]
    """The intents of ``Decider.decide(render=False)``, not built yet: :meth:`Decider.finish` builds
    them unless suppression replaced the list (a suppressed repeat builds none)."""


def explain_firing(firing: Firing, doc: dict[str, Any]) -> dict[str, Any]:
    meta = firing.meta
    out: dict[str, Any] = {"rule": meta.name, "stage": meta.stage, "selected": firing.selected}
    if meta.condition is not None:
        _, why = conditions.explain(meta.condition, doc)
        out["why"] = why or ["always"]
    if meta.origin:
        out["origin"] = meta.origin
    return out


class Decider:
    """Compiled policy + engine, ready to decide events one at a time (single thread).

    ``model``: a :class:`~engine.decide.classify.ModelState`, a model path, or None for
    ``$ESCALATION_MODEL`` / the shipped model (``intelligence.NO_MODEL`` for rules alone).
    ``history``: where ``history.*`` facts come from (the pipeline passes the audit log's).
    """

    def __init__(self, compiled: CompiledPolicy, *, model: ModelState | str | None = None,
                 history: HistoryProvider | None = None) -> None:
        self.compiled = compiled
        self.model = intelligence.as_state(model)
        self.history = history
        self.policy = compiled.policy
        self.engine = Engine(compiled)
        self._templates = {ch: {key: templates.MessageTemplate(tree, f"/templates/{ch}/{key}")
                                for key, tree in per_sev.items()}
                           for ch, per_sev in self.policy.templates.items()}
        self._params = {r.id: templates.MessageTemplate(r.params, f"remediation {r.id} params")
                        for r in self.policy.remediation}
        # event_id -> (the event object classified, its verdict); see prime()
        self._primed: dict[str, tuple[Event, intelligence.ModelVerdict | None]] = {}
        self._owners = OwnerCache(self.policy)
        self._plans: dict[tuple[int, str], tuple[Owner, list[PlannedStep]]] = {}  # see _plan

    def prime(self, events: list[Event]) -> None:
        """Classify a batch at once (vectorised); :meth:`decide` then uses these verdicts.

        A verdict is used only for the very event object it was computed for: a batch may hold two
        events with the same event_id and different content (the later one is a duplicate), and the
        one decided must not get the other's verdict."""
        primed: dict[str, tuple[Event, intelligence.ModelVerdict | None]] = {}
        if events:
            for event, verdict in zip(events, intelligence.predict_many(self.model, events), strict=True):
                primed.setdefault(event.event_id, (event, verdict))
        self._primed = primed

    def decide(self, event: Event, incident_id: str | None = None, severity: str | None = None, *,
               render: bool = True) -> Decision:
        """``severity``: forced (a fused incident's combined severity); channels follow that level.

        ``render=False`` leaves the intents unbuilt (:class:`Later`) and the notifications' messages
        empty; :meth:`finish` builds and renders them once suppression has said which requests remain
        (a deduplicated repeat builds and renders nothing). Remediation parameters are always rendered
        here: the decision records them.
        """
        doc = event_document(event)
        hit = self._primed.get(event.event_id)  # primed for this very event object, else classified now
        verdict = hit[1] if hit is not None and hit[0] is event else intelligence.predict(self.model, event)
        if verdict is not None:
            doc["model"] = verdict.fact()
        if self.history is not None:
            doc["history"] = self.history(event.service, event.timestamp)
        fact = event_fact(doc, self.compiled.event_paths)
        firings = self.engine.decide(fact)
        forced = severity is not None
        chosen = selected(firings, "severity")
        engine_severity = chosen.meta.severity if chosen else self.policy.default_severity
        severity = severity or engine_severity
        incident_id = incident_id or event.event_id
        owner = self._owners.resolve(event.service, event.timestamp)
        level = self.policy.levels[severity]
        fired_ids = [f.meta.name for f in firings]
        problems: list[str] = []
        remediation = self._remediation(firings, doc, severity, level.level, incident_id, owner, fired_ids, problems,
                                        forced and severity != engine_severity)
        model = intelligence.model_block(self.model, verdict)
        ctx = templates.context(doc, severity, level.level, self.policy.colors.get(severity, ""), incident_id,
                                owner.as_dict(), remediation, fired_ids, model)
        common = dict(incident_id=incident_id, event_id=event.event_id, severity=severity, service=event.service,
                      environment=event.environment, level=level.level, details=_details(doc),
                      links=({"href": event.runbook_url, "text": "Runbook"},) if event.runbook_url else ())
        rendered: dict[str, dict[str, Any]] = {}

        def message(channel: str) -> dict[str, Any]:  # one render per channel, however many intents use it
            if channel not in rendered:
                rendered[channel] = self._render(channel, severity, ctx, problems)
            return rendered[channel]

        steps = self._plan(owner, level)  # every step is an intent now; the outbox holds it until due
        notify = [(f.meta.channel, f.meta.name) for f in firings if f.meta.stage == "notify"]
        if forced:  # the engine notified for its own severity; a forced one uses that level's channels
            notify = [(ch, f"notify:{severity}:{ch}") for ch in level.channels]
        # with render=False the messages are filled in by finish(), from the intents still wanted
        notifications = [{"channel": ch, "rule": rule_name, "message": message(ch) if render else None}
                         for ch, rule_name in notify]
        paged = level.pagers if any(f.meta.stage == "route" for f in firings) else ()

        def build() -> list[Intent]:
            intents: list[Intent] = []
            for pager in paged:
                intents += page_intents(pager, steps, owner, message(pager), f"route:{severity}", common,
                                        self.compiled.policy.slack_users)
            if remediation:
                intents.append(Intent(action=remediation["action"], kind="remediate", params=remediation["params"],
                                      rule_id=remediation["rule"], **common))
            for n in notifications:
                intents.append(Intent(action=n["channel"], kind="notify", message=message(n["channel"]),
                                      rule_id=n["rule"], **common))
            return intents

        escalation = {
            "level": level.level, "notify": list(level.notify), "pagers": list(level.pagers),
            "repeat": level.repeat, "steps": [s.as_dict() for s in steps],
        }
        return Decision(event.event_id, incident_id, event.service, severity,
                        intelligence.confidence(verdict, severity), firings, owner, escalation,
                        remediation, notifications, build() if render else Later(), self.policy.digest, doc,
                        problems, model, fact=fact, build=None if render else build)

    def _plan(self, owner: Owner, level: Level) -> list[PlannedStep]:
        """The escalation plan of this owner at this level, computed once per owner the cache handed out."""
        key = (id(owner), level.level)
        held = self._plans.get(key)
        if held is not None and held[0] is owner:
            return held[1]
        if len(self._plans) >= 10_000:
            self._plans.clear()
        steps = escalation_plan(owner, level)
        self._plans[key] = (owner, steps)
        return steps

    @staticmethod
    def finish(decision: Decision) -> Decision:
        """Render what ``decide(render=False)`` deferred, for the requests that are still wanted.

        A notification whose request was dropped (a suppressed repeat) keeps ``message: null``:
        nothing was rendered because nothing is sent.
        """
        build, decision.build = decision.build, None
        if build is None:
            return decision
        if type(decision.intents) is Later:  # suppression did not replace them
            decision.intents = build()
        sent = {i.action: i.message for i in decision.intents if i.kind == "notify"}
        decision.notifications = [{**n, "message": sent.get(n["channel"])} for n in decision.notifications]
        return decision

    def _remediation(self, firings: list[Firing], doc: dict[str, Any], severity: str, level: str,
                     incident_id: str, owner: Owner, fired: list[str], problems: list[str],
                     forced: bool = False) -> dict[str, Any] | None:
        if forced:
            # A forced severity (fusion) differs from the engine's: walk that level's decision tree with
            # the Python evaluator, which has the engine's semantics (tests/compiler/test_conditions.py).
            rule = next((r for r in self.policy.remediation
                         if r.severity == severity and conditions.evaluate(r.when, doc)), None)
            chosen = (rule.id, rule.action) if rule else None
        else:
            hit = selected(firings, "remediate")
            chosen = (hit.meta.rule_id, hit.meta.action) if hit else None
        if chosen is None:
            return None
        rule_id, action = chosen
        ctx = templates.context(doc, severity, level, "", incident_id, owner.as_dict(), None, fired)
        try:
            params = self._params[rule_id].render(ctx)
        except templates.TemplateProblem as exc:  # never act on half-rendered parameters
            problems.append(f"remediation {rule_id}: {exc}; not requested")
            return None
        return {"action": action, "rule": rule_id, "params": params}

    def _render(self, channel: str, severity: str, ctx: dict[str, Any], problems: list[str]) -> dict[str, Any]:
        picked = templates.pick(self._templates, channel, severity)
        if picked is None:
            return {}
        _, template = picked
        try:
            return template.render(ctx)
        except templates.TemplateProblem as exc:
            problems.append(f"{channel}: {exc} at {exc.pointer}")
            event = ctx["event"]
            fallback = f"{severity} incident {ctx['incident_id']} on {event['service']}: {event.get('title', '')}"
            return {"text": fallback, "summary": fallback, "subject": fallback, "message": fallback[:130]}


def _details(doc: dict[str, Any]) -> dict[str, Any]:
    keys = ("source", "environment", "title", "description", "metrics", "conditions", "labels", "derived")
    return {k: doc[k] for k in keys if doc.get(k)}
