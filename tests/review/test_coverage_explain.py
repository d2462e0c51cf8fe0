"""`rules test --coverage` (rules and leaves, thresholds, JSON/Cobertura/lcov) and `rules explain`."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

from review_util import CASE, RULES, SAMPLES, rules


def _rules_with_extra_rule(tmp_path: Path) -> Path:
    root = tmp_path / "rules"
    shutil.copytree(RULES, root, ignore=shutil.ignore_patterns("tests"))
    sev = root / "severity.yaml"
    sev.write_text(sev.read_text() + "  - id: never-tested\n    severity: MAJOR\n    when:\n"
                   "      metrics.queue_depth: {gte: 1000}\n")
    return root


def test_shipped_policy_is_fully_covered(tmp_path: Path) -> None:
    out = tmp_path / "coverage.json"
    res = rules("test", "--coverage", "--coverage-format", "json", "--coverage-out", str(out), "--threshold", "95")
    assert res.returncode == 0, res.stderr
    report = json.loads(out.read_text())
    assert report["rules"]["percent"] == 100.0
    assert report["leaves"]["percent"] >= 95.0


def test_uncovered_rule_and_leaf_are_reported_at_their_location(tmp_path: Path) -> None:
    root = _rules_with_extra_rule(tmp_path)
    (tmp_path / "x.test.yaml").write_text(CASE)
    res = rules("test", str(tmp_path / "x.test.yaml"), "--rules", str(root), "--coverage")
    assert res.returncode == 0, res.stdout  # no threshold: coverage is reported, not enforced
    text = (root / "severity.yaml").read_text().splitlines()
    line = next(i for i, t in enumerate(text, 1) if "queue_depth" in t)
    col = text[line - 1].index("1000") + 1
    out = res.stdout.splitlines()
    assert any(x.split()[:2] == ["never", "severity:never-tested"] for x in out)
    assert f"    {root / 'severity.yaml'}:{line}:{col}: metrics.queue_depth gte 1000 never seen true" in out
    failing = rules("test", str(tmp_path / "x.test.yaml"), "--rules", str(root), "--threshold", "90")
    assert failing.returncode == 1
    assert "error: coverage of rules decided is" in failing.stderr and "below the threshold 90 %" in failing.stderr


def test_cobertura_and_lcov_outputs(tmp_path: Path) -> None:
    (tmp_path / "x.test.yaml").write_text(CASE)
    cob, lcov = tmp_path / "coverage.xml", tmp_path / "coverage.info"
    assert rules("test", str(tmp_path / "x.test.yaml"), "--coverage", "--coverage-format", "cobertura",
                 "--coverage-out", str(cob)).returncode == 0
    root = ET.parse(cob).getroot()
    classes = {c.get("name"): c for c in root.iter("class")}
    assert classes["severity:service-unavailable"].get("line-rate") == "1"
    assert classes["severity:data-loss-risk"].get("line-rate") == "0"
    conds = [ln.get("condition-coverage") for ln in classes["severity:data-loss-risk"].iter("line")
             if ln.get("branch") == "true"]
    assert conds == ["50% (1/2)"]  # seen false, never true
    assert rules("test", str(tmp_path / "x.test.yaml"), "--coverage", "--coverage-format", "lcov",
                 "--coverage-out", str(lcov)).returncode == 0
    body = lcov.read_text()
    assert body.startswith("TN:rules\nSF:rules/remediation.yaml\n") and "SF:rules/severity.yaml" in body
    assert body.count("end_of_record") == 2


def test_explain_names_the_first_failing_condition_with_its_value() -> None:
    res = rules("explain", str(SAMPLES / "moderate-degradation.json"), "--rule", "sla-breach-risk",
                "--rule", "error-rate-elevated", "--model", "none")
    assert res.returncode == 0, res.stderr
    lines = (RULES / "severity.yaml").read_text().splitlines()

    def at(rule: str) -> str:  # where the shipped file declares the rule (it moves when rules are added)
        return f"rules/severity.yaml:{lines.index(f'  - id: {rule}') + 1}:5"

    assert res.stdout.splitlines() == [
        "INC-2025-003 → MODERATE (decided by severity:error-rate-elevated)",
        f"  ✘ severity:sla-breach-risk                 no match  {at('sla-breach-risk')}",
        "      metrics.availability lt 0.99 is false (actual 0.999)",
        f"  ✔ severity:error-rate-elevated             decided   {at('error-rate-elevated')}",
        "      metrics.error_rate gte 0.01 (actual 0.018)",
    ]


def test_explain_json_and_unknown_rule() -> None:
    res = rules("explain", str(SAMPLES / "critical-service-outage.json"), "--format", "json", "--model", "none")
    doc = json.loads(res.stdout)[0]
    by = {r["rule"]: r for r in doc["rules"]}
    assert by["severity:service-unavailable"]["selected"] is True
    assert by["severity:data-loss-risk"]["why"] == ["conditions.data_loss_risk eq True is false (actual missing)"]
    assert by["remediate:major-crash-restart"]["why"][0].startswith("not evaluated: for MAJOR incidents")
    bad = rules("explain", str(SAMPLES / "critical-service-outage.json"), "--rule", "nope")
    assert bad.returncode == 1 and bad.stderr.strip().startswith("error: no rule 'nope' in the policy")
