"""The text tests of a policy (``contains``/``matches`` leaves), evaluated in Python before an event fact
is posted: durable-rules tests only the derived booleans ``tested.<key>`` (see
:mod:`engine.compiler.conditions`), so the engine and ``rules explain`` agree by construction."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.compiler.conditions import PYTHON_OPS, All, Any_, Leaf, Not, tested_key
from engine.compiler.regex import full_matcher


def python_tests(nodes: Any) -> tuple[tuple[str, Leaf], ...]:
    """``(key, leaf)`` of every Python-evaluated leaf under ``nodes`` (ASTs or None), each key once."""
    found: dict[str, Leaf] = {}

    def walk(node: Any) -> None:
        if isinstance(node, Leaf):
            if node.op in PYTHON_OPS:
                found.setdefault(tested_key(node), node)
        elif isinstance(node, Not):
            walk(node.item)
        elif isinstance(node, All | Any_):
            for item in node.items:
                walk(item)

    for node in nodes:
        walk(node)
    return tuple(sorted(found.items()))


def tester(tests: tuple[tuple[str, Leaf], ...]) -> Callable[[dict[str, Any]], dict[str, bool]]:
    """``run(doc)``: the fact's ``tested`` block, the keys of the leaves true for ``doc`` (absent: false).
    :func:`~engine.compiler.conditions.leaf_true` without its generic dispatch; the differential tests
    (tests/decide/test_differential.py) compare the engine's firings with ``conditions.evaluate``."""
    plan: list[tuple[str, str, str, Any, str]] = []  # key, head, rest, RE2 matcher or None, substring
    for key, leaf in tests:
        head, _, rest = leaf.path.partition(".")
        regex = full_matcher(leaf.value, dot_nl=True) if leaf.op == "matches" else None
        plan.append((key, head, rest, regex, leaf.value))

    def run(doc: dict[str, Any]) -> dict[str, bool]:
        out: dict[str, bool] = {}
        for key, head, rest, regex, text in plan:
            value = doc.get(head)
            if rest:
                value = value.get(rest) if type(value) is dict else None
            if type(value) is str and (text in value if regex is None else regex(value)):
                out[key] = True
        return out

    return run
