"""Compile a validated :class:`Policy` into one durable-rules ruleset, as plain data.

The stages chain by forward chaining inside the engine, not by a Python sequence:

1. ``severity:<id>`` rules match the **event fact** (``t: event``). The first one to fire
   retracts the event fact — which removes every other pending severity activation from the
   agenda — and asserts a **severity fact**: ``t: severity, level: …`` plus the event fields the
   remediation rules read (``CompiledPolicy.severity_paths``; a smaller message to match and retract).
   ``severity:default`` (always true, lowest priority) fires only when no other rule did.
2. ``route:<SEVERITY>`` matches the severity fact: who owns it, whom to page.
3. ``notify:<SEVERITY>:<channel>`` matches the severity fact: one message per channel.
4. ``remediate:<id>`` matches the severity fact with its own ``when`` over the event's fields;
   the first to fire retracts the severity fact, so the decision tree yields one remediation.

Conflict resolution is durable-rules' agenda order — ``pri`` ascending, then definition
order — and ``pri`` is assigned here so that the **highest severity wins, then file order**;
remediation rules keep file order within a severity (a decision tree: first match wins).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.compiler import conditions, text_tests
from engine.model.firing import RuleMeta
from engine.model.policy import RANK, Policy

RULESET = "policy"
_SEVERITY_BAND = 4000  # pri: CRITICAL rules 1.., MAJOR 4001.., MODERATE 8001.., NONE 12001..
PRI_DEFAULT = 16001
PRI_ROUTE = 20000
PRI_NOTIFY = 30000
PRI_REMEDIATE = 40000


@dataclass(frozen=True)
class CompiledPolicy:
    ruleset: dict[str, Any]  # {rule name: durable rule}; pass copies to the engine
    rules: dict[str, RuleMeta]
    event_paths: tuple[str, ...]  # the event fields posted to the engine: every field the rules read
    policy: Policy
    severity_paths: tuple[str, ...] = ()  # the fact fields the severity fact carries (what remediation tests)
    # the contains/matches leaves, evaluated in Python before posting (text_tests.tested): (key, leaf)
    python_tests: tuple[tuple[str, conditions.Leaf], ...] = ()

    @functools.cached_property
    def run_tests(self) -> Callable[[dict[str, Any]], dict[str, bool]]:
        """The ``tested`` block of an event document (:func:`engine.compiler.text_tests.tester`)."""
        return text_tests.tester(self.python_tests)

    @property
    def digest(self) -> str:
        return self.policy.digest

    def definition(self) -> dict[str, Any]:
        """A fresh deep copy: durable-rules mutates the dict it is given."""
        return {RULESET: copy.deepcopy(self.ruleset)}


def event_binding(when: Any) -> dict[str, Any]:
    """A severity rule's binding: the event fact and its condition (``checks`` counts its slots)."""
    return conditions.conjoin({"t": "event"}, conditions.compile_expr(when) if when is not None else None)


def severity_binding(severity: str, when: Any = None) -> dict[str, Any]:
    """A route/notify/remediation rule's binding: the severity fact (and the remediation's condition)."""
    expr = conditions.compile_expr(when) if when is not None else None
    return conditions.conjoin({"t": "severity"}, {"level": severity}, expr)


def compile_policy(policy: Policy) -> CompiledPolicy:
    ruleset: dict[str, Any] = {}
    metas: dict[str, RuleMeta] = {}
    referenced: set[str] = set()

    def add(meta: RuleMeta, rule: dict[str, Any]) -> None:
        ruleset[meta.name] = {**rule, "run": meta.name}
        metas[meta.name] = meta

    per_band = {s: 0 for s in RANK}
    for rule in policy.severity_rules:
        band = 1 + (3 - RANK[rule.severity]) * _SEVERITY_BAND
        pri = band + per_band[rule.severity]
        per_band[rule.severity] += 1
        referenced |= conditions.paths(rule.when)
        add(RuleMeta(f"severity:{rule.id}", "severity", rule.id, rule.severity, condition=rule.when,
                     origin=str(rule.origin)),
            {"pri": pri, "all": [{"m": event_binding(rule.when)}]})
    add(RuleMeta("severity:default", "severity", "default", policy.default_severity, condition=conditions.TRUE),
        {"pri": PRI_DEFAULT, "all": [{"m": {"t": "event"}}]})
    for sev in sorted(policy.levels, key=lambda s: -RANK[s]):
        add(RuleMeta(f"route:{sev}", "route", sev, sev), {"pri": PRI_ROUTE, "all": [{"sev": severity_binding(sev)}]})
    for i, remedy in enumerate(policy.remediation):
        referenced |= conditions.paths(remedy.when)
        add(RuleMeta(f"remediate:{remedy.id}", "remediate", remedy.id, remedy.severity, action=remedy.action,
                     condition=remedy.when, params=remedy.params, origin=str(remedy.origin)),
            {"pri": PRI_REMEDIATE + i, "all": [{"sev": severity_binding(remedy.severity, remedy.when)}]})
    after_severity = set().union(*(conditions.paths(rule.when, engine=True) for rule in policy.remediation))
    i = 0
    for sev, level in sorted(policy.levels.items(), key=lambda kv: -RANK[kv[0]]):
        for channel in level.channels:
            add(RuleMeta(f"notify:{sev}:{channel}", "notify", f"{sev}:{channel}", sev, action=channel,
                         channel=channel),
                {"pri": PRI_NOTIFY + i, "all": [{"sev": severity_binding(sev)}]})
            i += 1
    tests = text_tests.python_tests([*(r.when for r in policy.severity_rules), *(r.when for r in policy.remediation)])
    return CompiledPolicy(ruleset, metas, tuple(sorted(referenced)), policy, tuple(sorted(after_severity)),
                          tests)
