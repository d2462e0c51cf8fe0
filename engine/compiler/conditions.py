"""The condition language of rule files: parse, type-check, compile to durable-rules, explain.

A condition is ``all: [...]``, ``any: [...]``, ``not: {...}`` or a leaf
``<dotted.path>: {<op>: <value>, ...}`` (several ops in one leaf are ANDed; a bare
scalar means ``eq``)::

    any:
      - conditions.service_unavailable: true
      - metrics.availability: {lt: 0.5}
      - all:
          - labels.tier: {in: [gold, platinum]}
          - title: {matches: ".*(outage|down).*"}

Operators: ``eq ne gt gte lt lte in contains matches exists``. One semantics, :func:`leaf_true`,
used by :func:`evaluate`/:func:`explain` (``rules explain``, coverage, suppression) and by the engine:

* a comparison on a field the event does not have (or has as null) is false (``ne`` too);
  ``exists: false`` and ``not`` are the ways to test absence;
* ``matches`` is a full match (like Alertmanager's ``=~``) with RE2 semantics
  (:mod:`engine.compiler.regex`: linear time; what RE2 rejects is a ``bad-regex`` error);
  ``contains`` is a substring test;
* **text tests are evaluated in Python, never by durable-rules.** Its regex engine (a home-made
  NFA→DFA conversion) loses matches: ``.*[Dd]egrad.*`` did not match "Checkout Degraded", and it refuses
  ordinary classes such as ``[-_ :.]`` (error 501). So a ``contains``/``matches`` leaf is computed by
  :func:`leaf_true` before the fact is posted (:mod:`engine.compiler.text_tests`), and the engine only tests the derived
  boolean ``tested.<key>`` (:func:`tested_key`): the engine and the review tools agree by construction;
* ``not`` is pushed down to the leaves (De Morgan).

Types come from the event model (:data:`FIELD_TYPES`): ordering operators only on numbers,
``contains``/``matches`` only on strings; a string compared with a number would otherwise be
compared as text by durable-rules.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

from engine.compiler.regex import RegexError, compile_full, full_match
from engine.model.vocabulary import STANDARD_CONDITIONS, STANDARD_METRICS

OPS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "contains", "matches", "exists")
_ORDER = {"gt": "$gt", "gte": "$gte", "lt": "$lt", "lte": "$lte"}
_NEGATE = {"gt": "lte", "gte": "lt", "lt": "gte", "lte": "gt"}

# Field types by path: exact names, then "<prefix>.*" for maps.
FIELD_TYPES: dict[str, str] = {
    "event_id": "string", "source": "string", "service": "string", "environment": "string",
    "title": "string", "description": "string", "fingerprint": "string", "status": "string",
    "runbook_url": "string",
    "metrics.*": "number", "derived.*": "number", "conditions.*": "boolean", "labels.*": "string",
    "traces.error_spans": "number", "traces.slow_spans": "number", "traces.total_spans": "number",
    "model.label": "string", "model.confidence": "number",
    "history.*": "number", "history.last_severity": "string",
}


class ConditionError(Exception):
    """A problem at ``pointer`` (relative to the condition) — becomes a Diagnostic."""

    def __init__(self, pointer: str, code: str, message: str, want: Any = None) -> None:
        super().__init__(message)
        self.pointer = pointer
        self.code = code
        self.want = want


@dataclass(frozen=True)
class Leaf:
    path: str
    op: str
    value: Any
    pointer: str = ""


@dataclass(frozen=True)
class All:
    items: tuple[Any, ...]


@dataclass(frozen=True)
class Any_:
    items: tuple[Any, ...]


@dataclass(frozen=True)
class Not:
    item: Any


TRUE = All(())  # the empty conjunction: "always"


def field_type(path: str) -> str | None:
    if path in FIELD_TYPES:
        return FIELD_TYPES[path]
    head = path.split(".", 1)[0]
    if "." in path and f"{head}.*" in FIELD_TYPES:
        return FIELD_TYPES[f"{head}.*"]
    return None


def parse(raw: Any, pointer: str = "") -> Any:
    """YAML data → AST, raising :class:`ConditionError` with the pointer of the bad part."""
    if raw is None:
        return TRUE
    if not isinstance(raw, dict) or len(raw) != 1:
        raise ConditionError(pointer, "condition-shape",
                             "a condition is a mapping with exactly one key: all, any, not or a field path")
    (key, value), = raw.items()
    child = f"{pointer}/{key}"
    if key in ("all", "any"):
        if not isinstance(value, list) or not value:
            raise ConditionError(child, "condition-shape", f"'{key}' takes a non-empty list of conditions")
        items = tuple(parse(v, f"{child}/{i}") for i, v in enumerate(value))
        return All(items) if key == "all" else Any_(items)
    if key == "not":
        return Not(parse(value, child))
    return _leaf(key, value, child)


_STANDARD = {"conditions": STANDARD_CONDITIONS, "metrics": STANDARD_METRICS}


def near_miss(path: str) -> str | None:
    """The standard name ``path`` is a likely typo of (``conditions.service_unavailble`` →
    ``conditions.service_unavailable``), else None. Custom names are allowed under ``conditions.*`` and
    ``metrics.*``, but one within a letter or two of a standard name can only be a typo that never matches."""
    namespace, _, name = path.partition(".")
    known = _STANDARD.get(namespace)
    if not known or not name or name in known:
        return None
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.85)
    return f"{namespace}.{close[0]}" if close else None


def _leaf(path: str, spec: Any, pointer: str) -> Any:
    ftype = field_type(path)
    if ftype is None:
        raise ConditionError(pointer, "unknown-field", f"unknown field {path!r}",
                             want="a field of the event: metrics.*, derived.*, conditions.*, labels.*, "
                                  "traces.*, service, environment, source, title, description, status")
    meant = near_miss(path)
    if meant:
        raise ConditionError(pointer, "unknown-field", f"unknown field {path!r}: a typo of {meant!r}? Events "
                             f"carry {meant!r}, so this condition can never match", want=meant)
    if not isinstance(spec, dict):
        spec = {"eq": spec}
    if not spec:
        raise ConditionError(pointer, "condition-shape", f"no operator given for {path!r}", want=list(OPS))
    leaves = []
    for op, value in spec.items():
        if op not in OPS:
            raise ConditionError(f"{pointer}/{op}", "unknown-operator", f"unknown operator {op!r}", want=list(OPS))
        _check_type(path, ftype, op, value, f"{pointer}/{op}")
        if op == "matches":
            check_regex(value, f"{pointer}/{op}")
        leaves.append(Leaf(path, op, value, f"{pointer}/{op}"))
    return leaves[0] if len(leaves) == 1 else All(tuple(leaves))


def _is_type(value: Any, ftype: str) -> bool:
    if ftype == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if ftype == "boolean":
        return isinstance(value, bool)
    return isinstance(value, str)


def _check_type(path: str, ftype: str, op: str, value: Any, pointer: str) -> None:
    if op == "exists":
        if not isinstance(value, bool):
            raise ConditionError(pointer, "operator-type", "'exists' takes true or false", want="boolean")
        return
    if op in _ORDER and ftype != "number":
        raise ConditionError(pointer, "operator-type", f"'{op}' compares numbers but {path!r} is a {ftype}",
                             want="eq, ne, in" + (", contains, matches" if ftype == "string" else ""))
    if op in ("contains", "matches") and ftype != "string":
        raise ConditionError(pointer, "operator-type", f"'{op}' needs a string field but {path!r} is a {ftype}")
    values = value if op == "in" else [value]
    if op == "in" and (not isinstance(value, list) or not value):
        raise ConditionError(pointer, "operator-type", "'in' takes a non-empty list", want="list")
    want = "string" if op in ("contains", "matches") else ftype
    for v in values:
        if not _is_type(v, want):
            raise ConditionError(pointer, "value-type", f"{path!r} is a {ftype}; {v!r} is not a {want}", want=want)
        if isinstance(v, float) and not math.isfinite(v):  # .inf / .nan: the engine cannot compare with them
            raise ConditionError(pointer, "value-type", f"{path!r} is a {ftype}; {v!r} is not a finite number",
                                 want="a finite number")


def check_regex(pattern: str, pointer: str = "") -> None:
    """What RE2 (Alertmanager's semantics, the evaluator's matcher) rejects is a ``bad-regex`` error."""
    try:
        compile_full(pattern, dot_nl=True)
    except RegexError as exc:
        raise ConditionError(pointer, "bad-regex", f"invalid regex {pattern!r}: {exc}") from None


# --- compile to durable-rules ----------------------------------------------------------------

TESTED = "tested"  # the fact's field holding the Python-evaluated leaves: {"tested": {"<key>": true}}
PYTHON_OPS = ("contains", "matches")  # evaluated by leaf_true before posting, never by durable-rules


def tested_key(leaf: Leaf) -> str:
    """The derived field of a Python-evaluated leaf: the same for equal leaves wherever they are written."""
    text = json.dumps([leaf.path, leaf.op, leaf.value], ensure_ascii=False)
    return f"{leaf.op}_{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def compile_expr(node: Any, negate: bool = False) -> dict[str, Any] | None:
    """AST → durable-rules expression for one message; ``None`` means "always true"."""
    if isinstance(node, Not):
        return compile_expr(node.item, not negate)
    if isinstance(node, All | Any_):
        if not node.items:
            if negate:
                raise ConditionError("", "condition-shape", "'not' of an always-true condition never matches")
            return None
        parts = [compile_expr(i, negate) for i in node.items]
        conj = isinstance(node, All) != negate
        if any(p is None for p in parts):
            if conj:
                parts = [p for p in parts if p is not None]
                if not parts:
                    return None
            else:
                return None
        op = "$and" if conj else "$or"
        flat: list[dict[str, Any]] = []
        for p in parts:  # (a and (b and c)) is (a and b and c): every group costs the engine two slots
            assert p is not None
            flat += p[op] if set(p) == {op} else [p]
        return flat[0] if len(flat) == 1 else {op: flat}
    return _compile_leaf(node, negate)


def _compile_leaf(leaf: Leaf, negate: bool) -> dict[str, Any]:
    p, v = leaf.path, leaf.value
    exists, missing = {"$ex": {p: 1}}, {"$nex": {p: 1}}
    if leaf.op == "exists":
        return exists if v != negate else missing
    if leaf.op in PYTHON_OPS:
        ref = f"{TESTED}.{tested_key(leaf)}"
        return {"$nex": {ref: 1}} if negate else {ref: True}
    if leaf.op == "eq":
        return {"$or": [missing, {"$neq": {p: v}}]} if negate else {p: v}
    if leaf.op == "ne":
        return {"$or": [missing, {p: v}]} if negate else {"$neq": {p: v}}  # $neq is false on a missing field
    if leaf.op == "in":
        if negate:
            return {"$or": [missing, {"$and": [{"$neq": {p: x}} for x in v]}]}
        return {p: v[0]} if len(v) == 1 else {"$or": [{p: x} for x in v]}
    op = _NEGATE[leaf.op] if negate else leaf.op
    test = {_ORDER[op]: {p: v}}
    return {"$or": [missing, test]} if negate else test


def conjoin(*parts: dict[str, Any] | None) -> dict[str, Any]:
    """One binding's expression: the conjunction of ``parts`` (None: always true), nested ``$and``s merged."""
    flat: list[dict[str, Any]] = []
    for p in parts:
        if p is not None:
            flat += p["$and"] if set(p) == {"$and"} else [p]
    return flat[0] if len(flat) == 1 else {"$and": flat}


MAX_SLOTS = 31  # durable-rules' expression sequence per binding (rete.h MAX_SEQUENCE_EXPRESSIONS 32) → error 113


def expression_slots(expr: dict[str, Any] | None) -> int:
    """Slots of durable-rules' per-binding expression sequence ``expr`` takes: two per ``$and``/``$or``
    (its opening and its end marker). The sequence holds 31 (``MAX_SEQUENCE_EXPRESSIONS`` 32 in rete.h;
    past that ``create_ruleset`` fails with error 113)."""
    if not expr:
        return 0
    key = next(iter(expr)) if len(expr) == 1 else ""
    if key in ("$and", "$or"):
        return 2 + sum(expression_slots(e) for e in expr[key])
    return 0


def dnf_terms(expr: dict[str, Any] | None) -> int:
    """How many alternative alpha paths durable-rules builds for ``expr`` (its DNF size)."""
    if expr is None:
        return 1
    if "$or" in expr:
        return sum(dnf_terms(e) for e in expr["$or"])
    if "$and" in expr:
        n = 1
        for e in expr["$and"]:
            n *= dnf_terms(e)
        return n
    return 1


def paths(node: Any, engine: bool = False) -> set[str]:
    """The event fields ``node`` reads; ``engine``: the fields durable-rules tests instead (a
    Python-evaluated leaf is its ``tested.<key>``)."""
    if isinstance(node, Leaf):
        return {f"{TESTED}.{tested_key(node)}" if engine and node.op in PYTHON_OPS else node.path}
    if isinstance(node, Not):
        return paths(node.item, engine)
    out: set[str] = set()
    for item in node.items:
        out |= paths(item, engine)
    return out


# --- evaluate and explain in Python (same semantics; used for `simulate` "why") ------------------

_MISSING = object()


def lookup(doc: dict[str, Any], path: str) -> Any:
    head, _, rest = path.partition(".")
    value = doc.get(head, _MISSING)
    if rest and isinstance(value, dict):
        return value.get(rest, _MISSING)
    return _MISSING if rest else value


def leaf_true(leaf: Leaf, actual: Any) -> bool:
    """Is ``leaf`` true for the field value ``actual`` (``_MISSING`` when the event lacks it)?"""
    if actual is _MISSING or actual is None:  # null is absent, as in the engine's fact (event_fact drops it)
        return leaf.op == "exists" and not leaf.value
    if leaf.op == "exists":
        return bool(leaf.value)
    op, v = leaf.op, leaf.value
    if op == "eq":
        return actual == v
    if op == "ne":
        return actual != v
    if op == "in":
        return actual in v
    if op == "contains":
        return isinstance(actual, str) and v in actual
    if op == "matches":  # RE2 full match (anchors are redundant but allowed)
        return isinstance(actual, str) and full_match(v, actual, dot_nl=True)
    if not isinstance(actual, int | float) or isinstance(actual, bool):
        return False
    return {"gt": actual > v, "gte": actual >= v, "lt": actual < v, "lte": actual <= v}[op]


def evaluate(node: Any, doc: dict[str, Any]) -> bool:
    """``explain(node, doc)[0]`` without building the reasons (the suppression stage asks per event)."""
    if isinstance(node, Not):
        return not evaluate(node.item, doc)
    if isinstance(node, All):
        return all(evaluate(item, doc) for item in node.items)
    if isinstance(node, Any_):
        return any(evaluate(item, doc) for item in node.items)
    return leaf_true(node, lookup(doc, node.path))


def explain(node: Any, doc: dict[str, Any]) -> tuple[bool, list[str]]:
    """``(matched, reasons)``: the leaves that made the condition true, with actual values."""
    if isinstance(node, Not):
        ok, _ = explain(node.item, doc)
        return (not ok), ([f"not({_describe(node.item)})"] if not ok else [])
    if isinstance(node, All):
        reasons: list[str] = []
        for item in node.items:
            ok, why = explain(item, doc)
            if not ok:
                return False, []
            reasons += why
        return True, reasons
    if isinstance(node, Any_):
        for item in node.items:
            ok, why = explain(item, doc)
            if ok:
                return True, why
        return False, []
    actual = lookup(doc, node.path)
    ok = leaf_true(node, actual)
    shown = "missing" if actual is _MISSING else repr(actual)
    return ok, ([f"{node.path} {node.op} {node.value!r} (actual {shown})"] if ok else [])


def _describe(node: Any) -> str:
    if isinstance(node, Leaf):
        return f"{node.path} {node.op} {node.value!r}"
    if isinstance(node, Not):
        return f"not({_describe(node.item)})"
    joiner = " and " if isinstance(node, All) else " or "
    return "(" + joiner.join(_describe(i) for i in node.items) + ")"
