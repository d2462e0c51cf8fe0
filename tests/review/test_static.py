"""engine.run.review.static / `rules analyze`: never-firing rules, and old vs new conditions with counterexamples."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from review_util import RULES, rules

from engine.compiler import conditions
from engine.run.review.static import can_fire, relation


def c(raw: dict) -> object:
    return conditions.parse(raw)


@pytest.mark.parametrize("old, new, want", [
    ({"metrics.x": {"gte": 1}}, {"metrics.x": {"gte": 1}}, "equals"),
    ({"metrics.x": {"gte": 1}}, {"not": {"metrics.x": {"lt": 1}}}, "wider"),  # not(): also true when missing
    ({"metrics.x": {"gte": 1}}, {"metrics.x": {"gte": 2}}, "narrower"),
    ({"metrics.x": {"gte": 1}}, {"metrics.x": {"gt": 0.5}}, "wider"),
    ({"metrics.x": {"gte": 1}}, {"metrics.x": {"lt": 1}}, "disjoint"),
    ({"metrics.x": {"gte": 1}}, {"any": [{"metrics.x": {"gte": 1}}, {"conditions.y": True}]}, "wider"),
    ({"labels.tier": {"in": ["gold", "silver"]}}, {"labels.tier": "gold"}, "narrower"),
    ({"metrics.x": {"gte": 1}}, {"all": [{"metrics.x": {"gte": 0}}, {"metrics.x": {"lte": 5}}]}, "overlaps"),
])
def test_relation_and_its_counterexample(old: dict, new: dict, want: str) -> None:
    rel, example = relation(c(old), c(new))
    assert rel == want
    if want == "equals":
        assert example is None
    else:  # the counterexample really separates them (or, for disjoint, matches one of them)
        a, b = conditions.evaluate(c(old), example), conditions.evaluate(c(new), example)
        assert a != b


def test_never_firing_and_regex_is_unknown_not_a_guess() -> None:
    assert can_fire(c({"all": [{"metrics.x": {"gt": 5}}, {"metrics.x": {"lt": 3}}]})) == (False, None)
    ok, doc = can_fire(c({"all": [{"metrics.x": {"gt": 5}}, {"metrics.x": {"lt": 6}}]}))
    assert ok is True and 5 < doc["metrics"]["x"] < 6
    assert relation(c({"title": {"matches": "a.*"}}), c({"title": {"matches": "ab.*"}}))[0] == "unknown"


def test_analyze_command_reports_a_change(tmp_path: Path) -> None:
    head = tmp_path / "head"
    shutil.copytree(RULES, head)
    sev = head / "severity.yaml"
    sev.write_text(sev.read_text().replace("metrics.latency_p99_ms: {gte: 1000}", "metrics.latency_p99_ms: {gte: 800}")
                   .replace("      conditions.crash_loop: true",
                            "      all: [{metrics.x: {gt: 0.9}}, {metrics.x: {lt: 0.5}}]"))
    res = rules("analyze", "--baseline", str(RULES), "--rules", str(head), "--format", "json")
    assert res.returncode == 1  # crash-loop can no longer fire
    found = {(f["rule"], f["kind"]): f for f in json.loads(res.stdout)}
    assert ("severity:crash-loop", "never-fires") in found
    latency = found[("severity:latency-degraded", "changed")]
    assert "is wider than" in latency["detail"] and 800 <= latency["example"]["metrics"]["latency_p99_ms"] < 1000
    assert rules("analyze").returncode == 0
