"""Static analysis of a rule change: rules that never fire, shadowed rules, old vs new condition.

Conditions compare fields with constants, so the truth of any set of conditions only changes at
those constants. :func:`grid` builds, per field the conditions read, the values that represent
every region: each constant, a point between neighbours, one below and one above, and "missing"
(for strings and booleans: each constant, another value, missing). Every combination is
evaluated with :func:`engine.conditions.evaluate` — the engine's semantics — up to
:data:`MAX_POINTS` combinations. So the answers are exact for numeric, equality, ``in`` and
``exists`` leaves, and every counterexample is checked; where a ``matches``/``contains`` leaf is
involved and no counterexample turned up, the answer is "unknown" rather than a guess.

Relations of an old (A) and a new (B) condition: ``equals`` (same events), ``narrower`` (B implies
A), ``wider`` (A implies B), ``disjoint`` (no event matches both), ``overlaps`` (none of these),
with a counterexample event for anything but ``equals``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from engine.compiler import conditions
from engine.compiler.compile import CompiledPolicy
from engine.compiler.implies import shadowing_rule
from engine.run.review.coverage import leaves

MAX_POINTS = 50_000
_MISSING = object()


def _set(doc: dict[str, Any], path: str, value: Any) -> None:
    if value is _MISSING:
        return
    head, _, rest = path.partition(".")
    if rest:
        doc.setdefault(head, {})[rest] = value
    else:
        doc[head] = value


def grid(*nodes: Any) -> tuple[list[dict[str, Any]], bool]:
    """Candidate event documents covering every region of ``nodes``' leaves; and whether exact."""
    consts: dict[str, list[Any]] = {}
    exact = True
    for node in nodes:
        for leaf in leaves(node) if node is not None else []:
            vals = consts.setdefault(leaf.path, [])
            if leaf.op in ("matches", "contains"):
                exact = False
                if leaf.op == "contains":
                    vals.append(f"x{leaf.value}x")
            elif leaf.op == "in":
                vals += list(leaf.value)
            elif leaf.op != "exists":
                vals.append(leaf.value)
    axes: list[tuple[str, list[Any]]] = []
    for path, vals in consts.items():
        kind = conditions.field_type(path)
        points: list[Any]
        if kind == "number":
            nums = sorted({float(v) for v in vals if isinstance(v, int | float) and not isinstance(v, bool)})
            points = [nums[0] - 1.0, nums[-1] + 1.0] if nums else [0.0]
            points += nums + [(a + b) / 2 for a, b in itertools.pairwise(nums)]
        elif kind == "boolean":
            points = [True, False]
        else:
            points = sorted({str(v) for v in vals}) + ["zz-other"]
        axes.append((path, [*points, _MISSING]))
    total = 1
    for _, points in axes:
        total *= len(points)
    if total > MAX_POINTS:
        return [], False
    docs = []
    for combo in itertools.product(*(points for _, points in axes)):
        doc: dict[str, Any] = {}
        for (path, _), value in zip(axes, combo, strict=True):
            _set(doc, path, value)
        docs.append(doc)
    return docs, exact


def _when(node: Any) -> Any:
    return conditions.TRUE if node is None else node


def can_fire(node: Any) -> tuple[bool | None, dict[str, Any] | None]:
    """(True, an event it matches) / (False, None) / (None, None) when it cannot tell."""
    docs, exact = grid(node)
    for doc in docs:
        if conditions.evaluate(_when(node), doc):
            return True, doc
    return (False if exact and docs else None), None


def relation(old: Any, new: Any) -> tuple[str, dict[str, Any] | None]:
    """How the new condition relates to the old one, with a counterexample (see module docstring):
    an event only the new one matches, else one only the old one matches (for ``narrower``)."""
    docs, exact = grid(old, new)
    a, b = _when(old), _when(new)
    only_old = only_new = both = None
    for doc in docs:
        x, y = conditions.evaluate(a, doc), conditions.evaluate(b, doc)
        if x and y and both is None:
            both = doc
        elif x and not y and only_old is None:
            only_old = doc
        elif y and not x and only_new is None:
            only_new = doc
    if not docs:
        return "unknown", None
    if only_old is None and only_new is None:
        return ("equals" if exact else "unknown"), None
    if both is None and exact:
        return "disjoint", only_new or only_old
    if only_old is None:
        return ("wider" if exact else "unknown"), only_new
    if only_new is None:
        return ("narrower" if exact else "unknown"), only_old
    return "overlaps", only_new


@dataclass
class Finding:
    rule: str
    kind: str  # never-fires | shadowed | changed | added | removed
    detail: str
    example: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def _rules(compiled: CompiledPolicy) -> dict[str, tuple[Any, str]]:
    p = compiled.policy
    out = {f"severity:{r.id}": (r.when, str(r.origin)) for r in p.severity_rules}
    out.update({f"remediate:{r.id}": (r.when, str(r.origin)) for r in p.remediation})
    return out


def analyze(head: CompiledPolicy, base: CompiledPolicy | None = None) -> list[Finding]:
    out: list[Finding] = []
    for name, (when, where) in _rules(head).items():
        fires, _ = can_fire(when)
        if fires is False:
            out.append(Finding(name, "never-fires", f"{where}: no event can satisfy its condition"))
    earlier: list[tuple[str, Any]] = []
    for r in sorted(head.policy.severity_rules, key=lambda r: -_rank(r.severity)):
        other = shadowing_rule(_when(r.when), [(rid, _when(w)) for rid, w in earlier])
        if other is not None:
            out.append(Finding(f"severity:{r.id}", "shadowed", f"{r.origin}: whenever it matches, {other} does "
                               "and wins"))
        earlier.append((r.id, r.when))
    if base is None:
        return out
    old, new = _rules(base), _rules(head)
    for name in new.keys() - old.keys():
        out.append(Finding(name, "added", new[name][1]))
    for name in old.keys() - new.keys():
        out.append(Finding(name, "removed", old[name][1]))
    for name in sorted(old.keys() & new.keys()):
        a, b = old[name][0], new[name][0]
        if a == b or _same(a, b):
            continue
        rel, example = relation(a, b)
        side = ""
        if example is not None:
            side = "; only the " + ("new" if conditions.evaluate(_when(b), example) else "old") + " one matches"
        out.append(Finding(name, "changed", f"{new[name][1]}: new condition {_words(rel)} the old one{side}", example))
    return out


def _same(a: Any, b: Any) -> bool:
    from engine.compiler.implies import dnf

    return a is not None and b is not None and dnf(a) == dnf(b)


def _rank(severity: str) -> int:
    from engine.model.policy import RANK

    return RANK[severity]


def _words(rel: str) -> str:
    return {"equals": "matches the same events as", "narrower": "implies (is narrower than)",
            "wider": "is implied by (is wider than)", "disjoint": "is disjoint from",
            "overlaps": "overlaps but neither implies", "unknown": "cannot be compared (regex) with"}[rel]


def render(findings: list[Finding]) -> str:
    lines = []
    for f in findings:
        lines.append(f"{f.kind:<12} {f.rule}: {f.detail}")
        if f.example is not None:
            lines.append(f"{'':<12}   e.g. an event with {f.example or 'none of the fields'}")
    return "\n".join(lines) or "no findings"
