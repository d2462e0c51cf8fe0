"""Escalation as steps: the plan, its page intents, their due times, and what stops them.

GoAlert/Grafana OnCall's step model, declared per severity level in ``escalation-policy``::

    steps:                        # default when absent: [primary, notify], then [backup]
      - targets: [primary, notify]          # step 0, at once
      - targets: [backup]                   # after the owning team's escalation_delay
      - targets: [eng-leads@company.com]
        delay: 600                          # seconds after the previous step
    repeat: 1                               # run the chain once more while nobody acknowledges

``primary``, ``backup`` and ``notify`` expand to the resolved owner's lists and the level's
``notify`` list; anything else is a person. A step with nobody to page is skipped (and its
delay not waited). Repetitions start ``escalation_delay`` after the last step and keep
numbering steps, so every (incident, step, pager, targets) has its own idempotency key.

Every step is an outbox row from the start, with ``due_at`` = intake time + offset (the
timer lives in sqlite, not in the engine: durable-rules timers die with the process). What
stops a step (an ack or resolve) is :mod:`engine.run.acknowledge`. Pure: no I/O here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from actions.base import Intent
from engine.model.policy import EscalationStep, Level
from engine.model.schedule import Owner

DEFAULT_CHAIN = (EscalationStep(("primary", "notify"), 0), EscalationStep(("backup",)))
MAX_STEPS = 100


@dataclass(frozen=True)
class PlannedStep:
    step: int
    after_seconds: int
    targets: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"step": self.step, "after_seconds": self.after_seconds, "targets": list(self.targets)}


def expand(targets: tuple[str, ...], owner: Owner, level: Level) -> tuple[str, ...]:
    lists = {"primary": owner.primary, "backup": owner.backup, "notify": level.notify}
    out: list[str] = []
    for t in targets:
        for person in lists.get(t, (t,)):
            if person not in out:
                out.append(person)
    return tuple(out)


def plan(owner: Owner, level: Level) -> list[PlannedStep]:
    """The level's chain for this owner, repeated ``level.repeat`` more times; [] without pagers."""
    if not level.pagers:
        return []
    chain = level.steps or DEFAULT_CHAIN
    out: list[PlannedStep] = []
    t = 0
    for rep in range(level.repeat + 1):
        for i, step in enumerate(chain):
            targets = expand(step.targets, owner, level)
            if not targets or len(out) >= MAX_STEPS:
                continue
            if out:
                first_of_repeat = rep > 0 and i == 0
                t += owner.escalation_delay if step.delay is None or first_of_repeat else step.delay
            else:
                t = step.delay or 0
            out.append(PlannedStep(len(out), t, targets))
    return out


def page_intents(pager: str, steps: list[PlannedStep], owner: Owner, message: Mapping[str, Any], rule_id: str,
                 common: Mapping[str, Any], slack_users: Mapping[str, str] | None = None) -> list[Intent]:
    """One ``page`` intent per step for ``pager``; ``details.escalation`` says which step and whom.

    How each step reaches its people (each pager's own semantics; README "On call"):

    * ``pagerduty``: each step is its own alert (dedup key ``<incident>.step-<n>`` after step 0, see
      :mod:`actions.pagerduty`); steps after the first use the team's ``pagerduty_backup_routing_key_env``
      (``params["routing_key_env"]``), a PagerDuty service whose escalation policy pages the backup.
    * ``opsgenie``: each step is its own alert (alias ``<incident>.step-<n>``) whose responders are the
      step's targets.
    * ``slack``: a person with a Slack user id in the matrix's ``slack_users`` is mentioned as ``<@U…>``
      (a mention notifies); anyone else is written as plain text and notifies nobody.
    """
    out = []
    users = slack_users or {}
    for s in steps:
        targets = s.targets
        params: dict[str, Any] = {}
        if pager == "slack":
            people = tuple(users.get(t, t) for t in s.targets)
            targets = (owner.slack, *people) if owner.slack else people
        elif pager == "pagerduty" and owner.routing_key_envs[min(s.step, 1)]:
            params["routing_key_env"] = owner.routing_key_envs[min(s.step, 1)]
        details = {**common.get("details", {}), "escalation": {"step": s.step, "targets": list(s.targets)}}
        out.append(Intent(action=pager, kind="page", targets=targets, step=s.step, rule_id=rule_id,
                          message=message, params=params, **{**common, "details": details}))
    return out


def iso(t: datetime) -> str:
    """The audit log's time format (``engine.store.audit.utcnow``): comparable as text."""
    return t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def due(escalation: Mapping[str, Any], base: str, delay: float = 0.0) -> Callable[[Intent], str]:
    """``due_at`` for each intent of a decision: pages at ``base`` + ``delay`` + their step's offset, the
    rest at ``base`` + ``delay`` (a hold: group_wait, a fusion hold, a scheduled group update).

    Nothing is computed until an intent asks: most decisions (a deduplicated repeat) request none.
    """
    prepared: list[Any] = []

    def at(intent: Intent) -> str:
        if not prepared:
            prepared[:] = [datetime.fromisoformat(base) + timedelta(seconds=delay),
                           {s["step"]: s["after_seconds"] for s in escalation.get("steps", ())}]
        start, offsets = prepared
        seconds = offsets.get(intent.step, 0) if intent.kind == "page" else 0
        return iso(start + timedelta(seconds=seconds))

    return at
