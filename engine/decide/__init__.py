"""Decide one event: a list of named stages over a :class:`Draft`, then the :class:`Decision`.

Takes a validated :class:`~engine.model.event.Event`, returns the decision (severity, fired rules
and why, owner, escalation plan, remediation, rendered notifications) and the
:class:`~actions.base.Intent` list the executor will carry out. No SQL, no wall clock: history
comes through the ``history`` port (:data:`~engine.decide.history.HistoryProvider`), time is the event's.

The stages, in order (:data:`STAGES`), each filling in part of the :class:`Draft`:

``classify``     model.* facts: the batch's verdict (:meth:`Decider.prime`), else classified now
``history``      history.* facts, on the event clock
``rules``        the event fact posted to durable-rules: severity → route / notify / remediate firings
``owner``        who owns the service at the event's time (after rules: the chosen level picks the chain)
``remediation``  the selected remediation (a forced severity walks that level's tree in Python)
``escalation``   the steps, the channels to notify, the pagers

Then :meth:`Decider.render` turns the draft into messages and intents: at once (``render=True``), or
after suppression has said which requests remain (``render=False`` + :meth:`Decider.finish`).

**Observer hook** (``rules test --coverage``, ``rules explain``, ``rules impact``)::

    Observer = Callable[[str, Draft], None]
    Decider(compiled, observer=fn)      # fn(stage_name, draft) after every stage of every decide()

The draft is the live object: an observer reads it (``draft.firings``, ``draft.severity``,
``draft.doc``, ``draft.owner``, ``draft.remediation``) and must not change it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypedDict

from actions.base import Intent
from engine.compiler import conditions, templates
from engine.compiler.compile import CompiledPolicy
from engine.decide import classify as intelligence
from engine.decide.classify import ModelState, ModelVerdict
from engine.decide.escalation import PlannedStep, page_intents
from engine.decide.escalation import plan as escalation_plan
from engine.decide.history import HistoryProvider
from engine.durable import Engine, policy_fact
from engine.model.event import Event, event_document
from engine.model.firing import Firing, selected
from engine.model.policy import Level
from engine.model.schedule import Owner, OwnerCache


class Common(TypedDict):
    """The fields every intent of one decision shares."""

    incident_id: str
    event_id: str
    severity: str
    service: str
    environment: str
    level: str
    details: dict[str, Any]
    links: tuple[dict[str, str], ...]


@dataclass(slots=True)
class Draft:
    """What the stages know so far about one event (each stage fills in its part)."""

    event: Event
    doc: dict[str, Any]  # the event document, plus model.* and history.*
    incident_id: str
    forced: str | None = None  # a severity imposed by the caller (a fused incident's)
    verdict: ModelVerdict | None = None
    fact: dict[str, Any] = field(default_factory=dict)  # the event fact posted to the engine
    firings: list[Firing] = field(default_factory=list)
    engine_severity: str = ""
    severity: str = ""
    owner: Owner | None = None
    remediation: dict[str, Any] | None = None
    steps: list[PlannedStep] = field(default_factory=list)
    notify: list[tuple[str, str]] = field(default_factory=list)  # (channel, rule)
    paged: tuple[str, ...] = ()
    problems: list[str] = field(default_factory=list)  # e.g. a template that failed at run time
    fired: list[str] = field(default_factory=list)  # the firings' rule names


Observer = Callable[[str, Draft], None]


@dataclass(frozen=True, slots=True)
class Stage:
    name: str
    run: Callable[[Decider, Draft], None]


@dataclass(slots=True)
class Pending:
    """A decision's intents not built yet (``render=False``): what :meth:`Decider.finish` builds them from."""

    draft: Draft
    level: Level
    common: Common
    messages: Messages
    slack_users: Mapping[str, str] = field(default_factory=dict)  # who → Slack member id, for page mentions


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
    intents: list[Intent] | None  # None: not built yet (render=False); suppression may set them first
    rules_hash: str
    event_doc: dict[str, Any]
    problems: list[str] = field(default_factory=list)  # e.g. a template that failed at run time
    model: dict[str, Any] = field(default_factory=dict)  # {label, confidence, version}; see engine.decide.classify
    suppression: dict[str, Any] | None = None  # what the suppression stage did (engine.suppress)
    fact: dict[str, Any] = field(default_factory=dict, repr=False)  # the event fact posted to the engine
    pending: Pending | None = field(default=None, repr=False)  # render=False: see Decider.finish

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


def explain_firing(firing: Firing, doc: dict[str, Any]) -> dict[str, Any]:
    meta = firing.meta
    out: dict[str, Any] = {"rule": meta.name, "stage": meta.stage, "selected": firing.selected}
    if meta.condition is not None:
        _, why = conditions.explain(meta.condition, doc)
        out["why"] = why or ["always"]
    if meta.origin:
        out["origin"] = meta.origin
    return out


class Messages:
    """One render per channel, however many intents use it."""

    def __init__(self, decider: Decider, severity: str, ctx: dict[str, Any], problems: list[str]) -> None:
        self._decider, self._severity, self._ctx, self._problems = decider, severity, ctx, problems
        self._rendered: dict[str, dict[str, Any]] = {}

    def __call__(self, channel: str) -> dict[str, Any]:
        if channel not in self._rendered:
            self._rendered[channel] = self._decider._render(channel, self._severity, self._ctx, self._problems)
        return self._rendered[channel]


def _classify(decider: Decider, d: Draft) -> None:
    hit = decider._primed.get(d.event.event_id)  # primed for this very event object, else classified now
    d.verdict = hit[1] if hit is not None and hit[0] is d.event else intelligence.predict(decider.model, d.event)
    if d.verdict is not None:
        d.doc["model"] = d.verdict.fact()


def _history(decider: Decider, d: Draft) -> None:
    if decider.history is not None:
        d.doc["history"] = decider.history(d.event.service, d.event.timestamp)


def _rules(decider: Decider, d: Draft) -> None:
    d.fact = policy_fact(decider.compiled, d.doc)
    d.firings = decider.engine.decide(d.fact)
    d.fired = [f.meta.name for f in d.firings]
    chosen = selected(d.firings, "severity")
    d.engine_severity = chosen.meta.severity if chosen else decider.policy.default_severity
    d.severity = d.forced or d.engine_severity


def _owner(decider: Decider, d: Draft) -> None:
    d.owner = decider._owners.resolve(d.event.service, d.event.timestamp)


def _remediation(decider: Decider, d: Draft) -> None:
    d.remediation = decider._remediation(d)


def _escalation(decider: Decider, d: Draft) -> None:
    assert d.owner is not None
    level = decider.policy.levels[d.severity]
    d.steps = decider._plan(d.owner, level)  # every step is an intent; the outbox holds it until due
    d.notify = [(f.meta.channel, f.meta.name) for f in d.firings if f.meta.stage == "notify"]
    if d.forced is not None:  # the engine notified for its own severity; a forced one uses that level's channels
        d.notify = [(ch, f"notify:{d.severity}:{ch}") for ch in level.channels]
    d.paged = level.pagers if any(f.meta.stage == "route" for f in d.firings) else ()


STAGES: tuple[Stage, ...] = (
    Stage("classify", _classify),
    Stage("history", _history),
    Stage("rules", _rules),
    Stage("owner", _owner),  # after rules: the chosen level picks the chain
    Stage("remediation", _remediation),
    Stage("escalation", _escalation),
)


class Decider:
    """Compiled policy + engine, ready to decide events one at a time (single thread).

    ``model``: a :class:`~engine.decide.classify.ModelState`, a model path, or None for
    ``$ESCALATION_MODEL`` / the shipped model (``intelligence.NO_MODEL`` for rules alone).
    ``history``: where ``history.*`` facts come from (the pipeline passes the audit log's).
    ``observer``: called as ``observer(stage_name, draft)`` after every stage (see the module docstring).
    """

    def __init__(self, compiled: CompiledPolicy, *, model: ModelState | str | None = None,
                 history: HistoryProvider | None = None, observer: Observer | None = None) -> None:
        self.compiled = compiled
        self.model = intelligence.as_state(model)
        self.history = history
        self.observer = observer
        self.stages = STAGES
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

    def draft(self, event: Event, incident_id: str | None = None, severity: str | None = None) -> Draft:
        """Run :data:`STAGES` over one event (``severity``: forced, a fused incident's combined severity)."""
        draft = Draft(event, event_document(event), incident_id or event.event_id, severity)
        observer = self.observer
        for stage in self.stages:
            stage.run(self, draft)
            if observer is not None:
                observer(stage.name, draft)
        return draft

    def decide(self, event: Event, incident_id: str | None = None, severity: str | None = None, *,
               render: bool = True) -> Decision:
        """The stages, then the decision. ``render=False`` leaves the intents unbuilt (``None``) and the
        notifications' messages empty; :meth:`finish` builds and renders them once suppression has said
        which requests remain (a deduplicated repeat builds and renders nothing). Remediation parameters
        are always rendered: the decision records them."""
        return self.render(self.draft(event, incident_id, severity), now=render)

    def render(self, d: Draft, *, now: bool = True) -> Decision:
        """The :class:`Decision` of a draft; its messages and intents now, or later (:meth:`finish`)."""
        assert d.owner is not None
        event, severity = d.event, d.severity
        level = self.policy.levels[severity]
        model = intelligence.model_block(self.model, d.verdict)
        ctx = templates.context(d.doc, severity, level.level, self.policy.colors.get(severity, ""), d.incident_id,
                                d.owner.as_dict(), d.remediation, d.fired, model)
        common: Common = {
            "incident_id": d.incident_id, "event_id": event.event_id, "severity": severity,
            "service": event.service, "environment": event.environment, "level": level.level,
            "details": _details(d.doc),
            "links": ({"href": event.runbook_url, "text": "Runbook"},) if event.runbook_url else ()}
        messages = Messages(self, severity, ctx, d.problems)
        notifications: list[dict[str, Any]] = [
            {"channel": ch, "rule": rule_name, "message": messages(ch) if now else None} for ch, rule_name in d.notify]
        escalation = {
            "level": level.level, "notify": list(level.notify), "pagers": list(level.pagers),
            "repeat": level.repeat, "steps": [s.as_dict() for s in d.steps],
        }
        pending = Pending(d, level, common, messages, self.compiled.policy.slack_users)
        return Decision(event.event_id, d.incident_id, event.service, severity,
                        intelligence.confidence(d.verdict, severity), d.firings, d.owner, escalation,
                        d.remediation, notifications, _intents(pending) if now else None, self.policy.digest,
                        d.doc, d.problems, model, fact=d.fact, pending=None if now else pending)

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
        pending, decision.pending = decision.pending, None
        if pending is None:
            return decision
        if decision.intents is None:  # suppression did not replace them
            decision.intents = _intents(pending)
        sent = {i.action: i.message for i in decision.intents if i.kind == "notify"}
        decision.notifications = [{**n, "message": sent.get(n["channel"])} for n in decision.notifications]
        return decision

    def _remediation(self, d: Draft) -> dict[str, Any] | None:
        assert d.owner is not None
        severity = d.severity
        if d.forced is not None and severity != d.engine_severity:
            # A forced severity (fusion) differs from the engine's: walk that level's decision tree with
            # the Python evaluator, which has the engine's semantics (tests/compiler/test_conditions.py).
            rule = next((r for r in self.policy.remediation
                         if r.severity == severity and conditions.evaluate(r.when, d.doc)), None)
            chosen = (rule.id, rule.action) if rule else None
        else:
            hit = selected(d.firings, "remediate")
            chosen = (hit.meta.rule_id, hit.meta.action) if hit else None
        if chosen is None:
            return None
        rule_id, action = chosen
        level = self.policy.levels[severity].level
        ctx = templates.context(d.doc, severity, level, "", d.incident_id, d.owner.as_dict(), None, d.fired)
        try:
            params = self._params[rule_id].render(ctx)
        except templates.TemplateProblem as exc:  # never act on half-rendered parameters
            d.problems.append(f"remediation {rule_id}: {exc}; not requested")
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



def _intents(p: Pending) -> list[Intent]:
    """Pages per step and pager, the remediation, one notification per channel: the decision's requests."""
    d, common, message = p.draft, p.common, p.messages
    assert d.owner is not None
    intents: list[Intent] = []
    for pager in d.paged:
        intents += page_intents(pager, d.steps, d.owner, message(pager), f"route:{d.severity}", common,
                                p.slack_users)
    if d.remediation:
        intents.append(Intent(action=d.remediation["action"], kind="remediate", params=d.remediation["params"],
                              rule_id=d.remediation["rule"], **common))
    for channel, rule_name in d.notify:
        intents.append(Intent(action=channel, kind="notify", message=message(channel), rule_id=rule_name, **common))
    return intents


def _details(doc: dict[str, Any]) -> dict[str, Any]:
    keys = ("source", "environment", "title", "description", "metrics", "conditions", "labels", "derived")
    return {k: doc[k] for k in keys if doc.get(k)}
