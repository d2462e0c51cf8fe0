"""Differential: the compiled engine decides what the Python evaluator (``rules explain``, coverage) says.

Generated conditions over the condition language (numbers, text with quotes/newlines/non-ASCII,
regexes whose literal overlaps itself, classes starting with '-', nesting up to 113 territory) and
generated events. Deterministic (``derandomize``) and bounded, for CI.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import durable_rules_engine
import pytest
import yaml
from condition_kit import Harness, condition_trees, document, events, leaves
from core_util import RULES, line_col
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.compiler import conditions
from engine.compiler.compile import compile_policy, event_binding
from engine.compiler.validate import validate
from engine.decide import Decider
from engine.decide.classify import NO_MODEL
from engine.model.policy import RANK

FAST = settings(max_examples=200, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
SLOW = settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


def _parsed(raws: list[dict[str, Any]]) -> list[Any]:
    out = []
    for raw in raws:
        try:
            out.append(conditions.parse(raw))
        except conditions.ConditionError:
            continue  # e.g. a regex RE2 rejects: a diagnostic, never compiled
    return out


@FAST
@given(st.lists(condition_trees(), min_size=1, max_size=4), st.lists(events(), min_size=1, max_size=4))
def test_every_condition_fires_exactly_when_the_evaluator_says(raws: list[dict[str, Any]], evs: list[Any]) -> None:
    nodes = [n for n in _parsed(raws)
             if conditions.expression_slots(event_binding(n)) <= conditions.MAX_SLOTS]
    if not nodes or sum(conditions.dnf_terms(conditions.compile_expr(n)) for n in nodes) > 60:
        return  # nothing left, or more alternatives than rules validate allows at once (error 303)
    harness = Harness(nodes)  # loads: no 113, no 501
    for ev in evs:
        doc = document(ev)
        want = {i for i, n in enumerate(nodes) if conditions.evaluate(n, doc)}
        assert harness.matching(doc) == want, (raws, doc)


# any of 10-20 pairs: 2 slots for the binding's and, 2 for the any, 2 a pair (and an 'in' of several
# values 2 more): around the 31-slot boundary on both sides
WIDE = st.lists(st.builds(lambda a, b: {"all": [a, b]}, leaves(), leaves()), min_size=10, max_size=20).map(
    lambda xs: {"any": xs})


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(st.one_of(condition_trees(max_leaves=40), WIDE))
def test_the_and_or_budget_validate_counts_is_the_engines(raw: dict[str, Any]) -> None:
    """durable-rules keeps 31 expression slots per binding (error 113 past that): validate counts the same."""
    nodes = _parsed([raw])
    if not nodes or conditions.dnf_terms(conditions.compile_expr(nodes[0])) > 60:
        return
    fits = conditions.expression_slots(event_binding(nodes[0])) <= conditions.MAX_SLOTS
    try:
        Harness(nodes)
        loaded = True
    except durable_rules_engine.error as exc:
        assert "113" in str(exc), exc
        loaded = False
    assert loaded == fits, raw


def test_an_oversized_rule_is_an_engine_limit_at_its_when(tmp_path: Path) -> None:
    root = _rules_dir(tmp_path, [{"id": "many", "severity": "MAJOR",
                                  "when": {"any": [{"all": [{"metrics.x": {"gt": i}}, {"metrics.y": {"lt": i}}]}
                                                   for i in range(16)]}}])
    policy, diags = validate(root)
    assert policy is None
    (d,) = [d for d in diags if d.severity == "error"]
    text = (root / "severity.yaml").read_text()
    assert (d.code, d.pointer, d.line) == ("engine-limit", "/rules/0/when", line_col(text, "any:")[0])
    assert "error 113" in d.message and d.file.endswith("severity.yaml")


def _rules_dir(tmp: Path, severity_rules: list[dict[str, Any]],
               remediation_whens: dict[str, Any] | None = None) -> Path:
    root = tmp / "rules"
    shutil.copytree(RULES, root, ignore=shutil.ignore_patterns("tests", "severity.yaml"))
    (root / "severity.yaml").write_text(yaml.safe_dump(
        {"kind": "severity", "version": 1, "default": "NONE", "rules": severity_rules}, allow_unicode=True))
    if remediation_whens:
        rem = yaml.safe_load((RULES / "remediation.yaml").read_text())
        for rule in rem["rules"]:
            if rule["id"] in remediation_whens:
                rule["when"] = remediation_whens[rule["id"]]
        (root / "remediation.yaml").write_text(yaml.safe_dump(rem, allow_unicode=True))
    return root


def _predicted(decider: Decider, doc: dict[str, Any]) -> list[str]:
    """The firings the Python evaluator predicts: the highest severity wins, then file order; route, the
    level's channels, the first remediation of that severity whose condition holds."""
    policy = decider.policy
    ranked = sorted(enumerate(policy.severity_rules), key=lambda p: (-RANK[p[1].severity], p[0]))
    rule = next((r for _, r in ranked if conditions.evaluate(r.when, doc)), None)
    severity = rule.severity if rule else policy.default_severity
    out = [f"severity:{rule.id if rule else 'default'}", f"route:{severity}"]
    out += [f"notify:{severity}:{ch}" for ch in policy.levels[severity].channels]
    remedy = next((r for r in policy.remediation if r.severity == severity
                   and (r.when is None or conditions.evaluate(r.when, doc))), None)
    return out + ([f"remediate:{remedy.id}"] if remedy else [])


@SLOW
@given(st.lists(st.tuples(condition_trees(max_leaves=6), st.sampled_from(["CRITICAL", "MAJOR", "MAJOR", "MODERATE"])),
                min_size=1, max_size=3),
       st.lists(condition_trees(max_leaves=4), min_size=2, max_size=2),
       st.lists(events(), min_size=1, max_size=6))
def test_decisions_through_validate_and_the_engine_are_the_evaluators(
        tmp_path_factory: pytest.TempPathFactory, rules: list[tuple[dict[str, Any], str]],
        remediation: list[dict[str, Any]], evs: list[Any]) -> None:
    severity_rules = [{"id": f"r{i}", "severity": sev, "when": when} for i, (when, sev) in enumerate(rules)]
    whens = dict(zip(["major-load-scale-out", "major-crash-restart"], remediation, strict=True))
    policy = None
    for _ in range(len(severity_rules) + 1):  # drop the rules validate rejects, keep the rest
        root = _rules_dir(tmp_path_factory.mktemp("p"), severity_rules, whens)
        policy, diags = validate(root)
        if policy is not None:
            break
        bad = {d.pointer.split("/")[2] for d in diags if d.severity == "error" and d.file.endswith("severity.yaml")
               and d.pointer.startswith("/rules/")}
        if not bad:
            return  # a remediation condition validate rejects: nothing to compare
        severity_rules = [r for i, r in enumerate(severity_rules) if str(i) not in bad]
    if policy is None:
        return
    decider = Decider(compile_policy(policy), model=NO_MODEL)  # every ruleset validate accepts loads
    for n, ev in enumerate(evs):
        d = decider.decide(ev.model_copy(update={"event_id": f"e{n}"}))
        assert d.fired_rules == _predicted(decider, d.event_doc), (severity_rules, whens, d.event_doc)


def test_a_not_over_in_after_another_rule_validates(tmp_path: Path) -> None:
    """The shadowing check hashed the list of a negated 'in': a TypeError out of rules validate."""
    root = _rules_dir(tmp_path, [
        {"id": "a", "severity": "CRITICAL", "when": {"metrics.error_rate": {"eq": 0}}},
        {"id": "b", "severity": "CRITICAL", "when": {"not": {"metrics.error_rate": {"in": [0]}}}}])
    policy, diags = validate(root)
    assert policy is not None, diags
