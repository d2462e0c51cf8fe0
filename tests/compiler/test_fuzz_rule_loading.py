"""Property: loading and validating any rule file gives Diagnostics (file:line:col, a code), never an exception.

Two targets, each bounded (``max_examples``; ``FUZZ_EXAMPLES`` raises it for a longer local run): YAML-ish
text straight into the loader, and the shipped policy with one subtree replaced by an arbitrary value,
through the whole of ``validate`` (schemas, semantic checks, template renders, engine limits).
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import yaml
from core_util import RULES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.compiler.load import load_bytes
from engine.compiler.validate import validate
from engine.model.diagnostics import Diagnostic

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "0"))
YAMLISH = st.text(alphabet=st.sampled_from(list("abz019 :-[]{},'\"\n\t#&*!|>?%@`~\\.")) | st.characters(),
                  max_size=400)
values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30)
    | st.sampled_from(["{{ event.service }}", "{% for i in range(9) %}x{% endfor %}", "((a+)+)$", "CRITICAL",
                       "pagerduty", "labels.team=~\"x\"", "5m", "{{ nope }}", "-1"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12) | st.sampled_from(
        ["when", "all", "any", "not", "matches", "gt", "severity", "id", "action", "params", "rules"]),
        inner, max_size=4),
    max_leaves=12,
)
SHIPPED = {p.name: yaml.safe_load(p.read_text()) for p in sorted(Path(RULES).glob("*.yaml"))}


def well_formed(diags: list[Diagnostic]) -> None:
    for d in diags:
        assert d.code and d.line >= 1 and d.col >= 1 and d.message and "\n" not in d.message, d


@settings(max_examples=EXAMPLES or 300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(YAMLISH)
def test_any_text_loads_or_is_a_diagnostic(text: str) -> None:
    doc, diags = load_bytes(text.encode("utf-8", "surrogatepass"), "fuzz.yaml")
    assert (doc is None) == bool(diags)
    well_formed(diags)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


@settings(max_examples=EXAMPLES or 25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(SHIPPED)), st.data(), values)
def test_a_mutated_policy_validates_to_diagnostics(tmp_path_factory, name: str, data: st.DataObject,
                                                   value: Any) -> None:
    tree = copy.deepcopy(SHIPPED[name])
    path = data.draw(st.sampled_from(_paths(tree)[1:]))  # never the whole document's root
    target = tree
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    root = tmp_path_factory.mktemp("rules")
    for other, content in SHIPPED.items():
        (root / other).write_text(yaml.safe_dump(tree if other == name else content, allow_unicode=True))
    policy, diags = validate(root)  # every compiler stage but the last (load, schema, build, checks)
    well_formed(diags)
    assert policy is not None or any(d.severity == "error" for d in diags)
