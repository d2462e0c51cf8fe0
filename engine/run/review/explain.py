"""``rules explain``: for one event, every rule matched or not, and for a non-match why not.

For a rule that did not match, :func:`first_failure` names the first condition that failed,
with the event's actual value: in an ``all``, the first false item; in an ``any``, every
alternative is false and the first one is shown (with how many there were); a ``not`` fails
because its inside held. The same Python evaluator as the engine (``engine.conditions``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.compiler import conditions
from engine.compiler.compile import CompiledPolicy
from engine.decide import Decision


def first_failure(node: Any, doc: dict[str, Any]) -> str | None:
    """Why ``node`` is false for ``doc`` (None when it is true)."""
    if isinstance(node, conditions.Leaf):
        actual = conditions.lookup(doc, node.path)
        if conditions.leaf_true(node, actual):
            return None
        shown = "missing" if actual is conditions._MISSING else repr(actual)
        return f"{node.path} {node.op} {node.value!r} is false (actual {shown})"
    if isinstance(node, conditions.Not):
        if not conditions.evaluate(node.item, doc):
            return None
        _, why = conditions.explain(node.item, doc)
        return "not(...) is false: " + ("; ".join(why) or conditions._describe(node.item)) + " holds"
    if isinstance(node, conditions.All):
        for item in node.items:
            failed = first_failure(item, doc)
            if failed is not None:
                return failed
        return None
    reasons = [first_failure(item, doc) for item in node.items]
    if any(r is None for r in reasons):
        return None
    more = f" (and the other {len(reasons) - 1} alternative(s) of 'any' are false too)" if len(reasons) > 1 else ""
    return f"{reasons[0]}{more}"


@dataclass
class RuleVerdict:
    rule: str
    stage: str
    severity: str
    where: str
    matched: bool
    selected: bool
    why: list[str]  # the leaves that made it true, or the first failure

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def explain(compiled: CompiledPolicy, decision: Decision) -> list[RuleVerdict]:
    doc = decision.event_doc
    chosen = {f.meta.name for f in decision.firings if f.selected}
    out = []
    policy = compiled.policy
    for stage, rules in (("severity", policy.severity_rules), ("remediate", policy.remediation)):
        for r in rules:
            name = f"{stage}:{r.id}"
            when = r.when if r.when is not None else conditions.TRUE
            if stage == "remediate" and r.severity != decision.severity:
                out.append(RuleVerdict(name, stage, r.severity, str(r.origin), False, False,
                                       [f"not evaluated: for {r.severity} incidents, this one is {decision.severity}"]))
                continue
            matched, why = conditions.explain(when, doc)
            if not matched:
                why = [first_failure(when, doc) or "false"]
            out.append(RuleVerdict(name, stage, r.severity, str(r.origin), matched, name in chosen, why or ["always"]))
    return out


def render(decision: Decision, verdicts: list[RuleVerdict]) -> str:
    chosen = next((f.meta.name for f in decision.firings if f.selected and f.meta.stage == "severity"), "default")
    lines = [f"{decision.event_id} → {decision.severity} (decided by {chosen})"]
    for v in verdicts:
        mark = "✔" if v.selected else ("+" if v.matched else "✘")
        state = "decided" if v.selected else ("matched" if v.matched else "no match")
        lines.append(f"  {mark} {v.rule:<40} {state:<9} {v.where}")
        lines += [f"      {w}" for w in v.why]
    return "\n".join(lines)
