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

Operators: ``eq ne gt gte lt lte in contains matches exists``. Semantics, chosen to be
the same in the engine and in :func:`explain`:

* a comparison on a field the event does not have is false (``ne`` too); ``exists: false``
  and ``not`` are the ways to test absence;
* ``matches`` is a full match (like Alertmanager's ``=~``) in a Python-style regex subset that
  is translated to durable-rules' dialect (``\\d \\w \\s``, classes, groups, ``| * + ? {m,n}``);
  ``^``/``$`` are implied; look-arounds, back-references and lazy quantifiers are rejected;
* ``not`` is pushed down to the leaves (De Morgan); ``not`` over ``contains``/``matches`` is
  rejected because durable-rules has no working negated match.

Types come from the event model (:data:`FIELD_TYPES`): ordering operators only on numbers,
``contains``/``matches`` only on strings; a string compared with a number would otherwise be
compared as text by durable-rules.
"""

from __future__ import annotations

import difflib
import math
import re
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
            translate_regex(value, f"{pointer}/{op}")  # validate now
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


# --- regex: Python-style subset -> durable-rules dialect -------------------------------------

_CLASS_ESCAPES = {"d": "%d", "w": "%w", "s": "%s", "D": None, "W": None, "S": None}
_SPECIAL = set(".*+?|()[]{}")


def translate_regex(pattern: str, pointer: str = "") -> str:
    """Translate a (full-match) Python-style pattern into durable-rules' regex dialect."""
    try:
        compile_full(pattern, dot_nl=True)  # what RE2 (Alertmanager's semantics) rejects is rejected here
    except RegexError as exc:
        raise ConditionError(pointer, "bad-regex", f"invalid regex {pattern!r}: {exc}") from None
    body = pattern[1:] if pattern.startswith("^") else pattern
    if body.endswith("$") and not body.endswith("\\$"):
        body = body[:-1]
    if "(?" in body or re.search(r"[*+?}]\?", body) or re.search(r"\\[1-9bBAZ]", body) or "^" in body.replace("[^", ""):
        raise ConditionError(pointer, "unsupported-regex",
                             f"regex {pattern!r} uses a feature the engine does not support "
                             "(groups with '(?', lazy quantifiers, back-references, inner anchors)")
    out = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt in _CLASS_ESCAPES:
                escaped = _CLASS_ESCAPES[nxt]
                if escaped is None:
                    raise ConditionError(pointer, "unsupported-regex", f"\\{nxt} is not supported; use a class")
                out.append(escaped)
            elif nxt.isalnum():
                raise ConditionError(pointer, "unsupported-regex", f"escape \\{nxt} is not supported")
            else:
                out.append("%" + nxt)
            i += 2
            continue
        out.append("%%" if ch == "%" else ch)
        i += 1
    return "".join(out)


def _escape_literal(text: str) -> str:
    return "".join(("%" + c) if c in _SPECIAL or c == "%" else c for c in text)


# --- compile to durable-rules ----------------------------------------------------------------

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
        return parts[0] if len(parts) == 1 else {"$and" if conj else "$or": parts}
    return _compile_leaf(node, negate)


def _compile_leaf(leaf: Leaf, negate: bool) -> dict[str, Any]:
    p, v = leaf.path, leaf.value
    exists, missing = {"$ex": {p: 1}}, {"$nex": {p: 1}}
    if leaf.op == "exists":
        return exists if v != negate else missing
    if leaf.op in ("contains", "matches"):
        if negate:
            raise ConditionError(leaf.pointer, "unsupported-negation",
                                 f"'not' over '{leaf.op}' is not supported by the engine; write a positive condition")
        pattern = ".*" + _escape_literal(v) + ".*" if leaf.op == "contains" else translate_regex(v, leaf.pointer)
        return {"$mt": {p: pattern}}
    if leaf.op == "eq":
        return {"$or": [missing, {"$neq": {p: v}}]} if negate else {p: v}
    if leaf.op == "ne":
        return {"$or": [missing, {p: v}]} if negate else {"$and": [exists, {"$neq": {p: v}}]}
    if leaf.op == "in":
        if negate:
            return {"$or": [missing, {"$and": [{"$neq": {p: x}} for x in v]}]}
        return {p: v[0]} if len(v) == 1 else {"$or": [{p: x} for x in v]}
    op = _NEGATE[leaf.op] if negate else leaf.op
    test = {_ORDER[op]: {p: v}}
    return {"$or": [missing, test]} if negate else test


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


def paths(node: Any) -> set[str]:
    if isinstance(node, Leaf):
        return {node.path}
    if isinstance(node, Not):
        return paths(node.item)
    out: set[str] = set()
    for item in node.items:
        out |= paths(item)
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
    if leaf.op == "exists":
        return (actual is not _MISSING) == leaf.value
    if actual is _MISSING or actual is None:
        return False
    op, v = leaf.op, leaf.value
    if op == "eq":
        return actual == v
    if op == "ne":
        return actual != v
    if op == "in":
        return actual in v
    if op == "contains":
        return isinstance(actual, str) and v in actual
    if op == "matches":
        body = v[1:] if v.startswith("^") else v
        body = body[:-1] if body.endswith("$") and not body.endswith("\\$") else body
        return isinstance(actual, str) and full_match(body, actual, dot_nl=True)
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
