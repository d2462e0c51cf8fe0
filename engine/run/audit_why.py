"""Why an event got its severity, and why each other severity rule did not decide.

The audit log records the rules that *fired* (``firings``) and the event fact as posted to the engine
(``facts``, kind ``event``: the fields the rules read), not the rules that were evaluated and did not
match. These are **computed**: the recorded fact is evaluated against the severity rules loaded from
``--rules``, and only when their hash equals the decision's recorded ``rules_hash`` (the same rule files):
otherwise the answer says so instead of guessing with other rules. Semantics are those of
:mod:`engine.conditions` (the ones the compiler gives durable_rules).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from engine.compiler.conditions import All, Any_, Leaf, Not, explain, leaf_true, lookup

_absent = lookup({}, "x")  # the sentinel engine.conditions returns for a field the event lacks


def _show(actual: Any) -> str:
    return "missing" if actual is _absent else repr(actual)


def describe(node: Any) -> str:
    if isinstance(node, Leaf):
        return f"{node.path} {node.op} {node.value!r}"
    if isinstance(node, Not):
        return f"not({describe(node.item)})"
    if isinstance(node, All | Any_):
        joiner = " and " if isinstance(node, All) else " or "
        return "(" + joiner.join(describe(i) for i in node.items) + ")"
    return str(node)


def first_failure(node: Any, doc: dict[str, Any]) -> str | None:
    """The first condition that is false for ``doc``, with its actual value; None when ``node`` is true.

    ``all``: the first false item; ``any``: every alternative's first failure ("none of: a; b");
    ``not``: the inner condition that held.
    """
    if isinstance(node, Leaf):
        actual = lookup(doc, node.path)
        return None if leaf_true(node, actual) else f"{describe(node)} (actual {_show(actual)})"
    if isinstance(node, All):
        for item in node.items:
            why = first_failure(item, doc)
            if why is not None:
                return why
        return None
    if isinstance(node, Any_):
        reasons = []
        for item in node.items:
            why = first_failure(item, doc)
            if why is None:
                return None
            reasons.append(why)
        return "none of: " + "; ".join(reasons)
    if isinstance(node, Not):
        ok, held = explain(node.item, doc)
        return f"not({describe(node.item)}) is false: " + ", ".join(held) if ok else None
    return None


def event_fact(facts: Sequence[dict[str, Any]], event_id: str) -> dict[str, Any] | None:
    for f in facts:
        if f["event_id"] == event_id and f["kind"] == "event":
            if str(f["fact"]).startswith("redacted:"):  # `rules history redact` left only its hash
                return None
            return dict(json.loads(f["fact"]))
    return None


def why(decision: dict[str, Any], fact: dict[str, Any] | None, deciding: str | None, rules: Sequence[Any] | None,
        digest: str | None) -> dict[str, Any]:
    """The explanation of one decision.

    ``deciding``: the selected severity firing's rule id (``default`` when none matched); ``rules``: the
    loaded :class:`~engine.policy.SeverityRule` list whose hash is ``digest``.
    """
    out: dict[str, Any] = {"event_id": decision["event_id"], "severity": decision["severity"],
                           "deciding_rule": deciding, "rules_hash": decision["rules_hash"],
                           "model": {"label": decision.get("model_label"),
                                     "confidence": decision.get("model_confidence"),
                                     "version": decision.get("model_version")}}
    if rules is None or digest != decision["rules_hash"]:
        out["computed"] = False
        out["note"] = (f"rules at hash {str(decision['rules_hash'])[:12]} not loaded"
                       + (f" (--rules has {digest[:12]})" if digest else "")
                       + ": conditions not evaluated; give --rules with those rule files")
        return out
    if fact is None:
        out["computed"] = False
        out["note"] = "no event fact recorded for this event"
        return out
    out["computed"] = True
    out["note"] = (f"computed from the recorded event fact with the rules at hash {str(digest)[:12]} "
                   "(the log records the rules that fired, not those that did not)")
    out["conditions"] = []
    out["not_decided"] = []
    for rule in rules:
        if rule.id == deciding:
            _, reasons = explain(rule.when, fact)
            out["conditions"] = reasons
            out["description"] = rule.description
            continue
        failure = first_failure(rule.when, fact)
        out["not_decided"].append({"rule": rule.id, "severity": rule.severity,
                                   "first_failure": failure,
                                   "why": "matched, outranked by the deciding rule" if failure is None
                                   else "did not match"})
    return out
