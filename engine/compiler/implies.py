"""Does one condition imply another? Used to find severity rules that can never decide.

Conservative: it answers "implies" only when it can prove it for the DNF of both conditions
(every alternative of the later rule implies some alternative of the earlier one). Anything it
cannot reason about (regexes, ``not`` blocks) is treated as unrelated, so no false alarms.
"""

from __future__ import annotations

from itertools import product
from typing import Any

from engine.compiler.conditions import Any_, Leaf, Not, leaf_true

MAX_TERMS = 64


def dnf(node: Any) -> list[frozenset[Any]] | None:
    """Conditions AST → list of conjunctions (sets of Leaf/Not atoms); None if too large."""
    if isinstance(node, Leaf | Not):
        return [frozenset([_atom(node)])]
    maybe = [dnf(i) for i in node.items]
    parts = [p for p in maybe if p is not None]
    if len(parts) < len(maybe):
        return None
    if isinstance(node, Any_):
        terms = [t for p in parts for t in p]
    else:
        terms = [frozenset().union(*combo) for combo in product(*parts)] if parts else [frozenset()]
    return terms if len(terms) <= MAX_TERMS else None


def _atom(node: Any) -> Any:
    """A hashable copy without pointers, so that equal atoms compare equal (a ``not`` over an ``in``
    holds a list: hashing it raised a TypeError out of ``rules validate``)."""
    if isinstance(node, Leaf):
        value = tuple(node.value) if isinstance(node.value, list) else node.value
        return Leaf(node.path, node.op, value)
    if isinstance(node, Not):
        return Not(_atom(node.item))
    return type(node)(tuple(_atom(i) for i in node.items))


def leaf_implies(b: Any, a: Any) -> bool:
    """Whenever atom ``b`` is true, is atom ``a`` true?"""
    if b == a:
        return True
    if not (isinstance(a, Leaf) and isinstance(b, Leaf)) or a.path != b.path:
        return False
    if a.op == "exists":
        return a.value is True and not (b.op == "exists" and b.value is False)
    bvals = [b.value] if b.op == "eq" else (list(b.value) if b.op == "in" else None)
    if bvals is not None:
        return all(leaf_true(a, v) for v in bvals)
    if a.op in ("gt", "gte") and b.op in ("gt", "gte") and _num(a.value) and _num(b.value):
        return b.value > a.value or (b.value == a.value and (a.op == "gte" or b.op == "gt"))
    if a.op in ("lt", "lte") and b.op in ("lt", "lte") and _num(a.value) and _num(b.value):
        return b.value < a.value or (b.value == a.value and (a.op == "lte" or b.op == "lt"))
    if a.op == "contains" and b.op == "contains":
        return a.value in b.value
    return False


def _num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def term_implies(b: frozenset[Any], a: frozenset[Any]) -> bool:
    return all(any(leaf_implies(x, y) for x in b) for y in a)


def implies(later: Any, earlier: Any) -> bool:
    b_terms, a_terms = dnf(later), dnf(earlier)
    if b_terms is None or a_terms is None:
        return False
    return all(any(term_implies(bt, at) for at in a_terms) for bt in b_terms)


def shadowing_rule(condition: Any, earlier: list[tuple[str, Any]]) -> str | None:
    """The id of the first earlier rule that matches whenever ``condition`` does, if any."""
    for rule_id, other in earlier:
        if implies(condition, other):
            return rule_id
    return None
