"""``rules validate`` reports what can never work at file:line:col; simulate's text and JSON agree."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.compiler.validate import validate
from engine.run.simulate import _decision_lines

ZONE = "      zone_id: Z0EXAMPLECOMPANY  # the Route 53 hosted zone of company.com. (replace with yours)\n"


def errors(root: Path) -> list[tuple[str, int, int, str]]:
    _, diags = validate(root)
    return [(d.code, d.line, d.col, d.message) for d in diags if d.severity == "error"]


def line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_the_shipped_policy_passes(policy_copy) -> None:
    assert errors(policy_copy()) == []


def test_a_failover_without_a_zone_id_is_an_error_at_its_params(policy_copy) -> None:
    root = policy_copy(remediation=(ZONE, ""))
    (code, line, col, message), = errors(root)
    assert (code, line, col) == ("remediation-cannot-work",
                                 line_of(root / "remediation.yaml", 'record: "{{ event.service }}.company.com."'), 7)
    assert "'critical-failover' (failover) can never work for every service" in message
    assert "zone_id must be a Route 53 hosted zone id" in message


def test_a_restart_method_typo_is_an_error(policy_copy) -> None:
    root = policy_copy(remediation=("      method: kubectl\n", "      method: kubectll\n"))
    (code, line, _, message), = errors(root)
    assert code == "remediation-cannot-work"
    assert line == line_of(root / "remediation.yaml", "method: kubectll")
    assert "unknown method 'kubectll'" in message


@pytest.mark.parametrize("old, new, meant", [
    ("conditions.crash_loop: true", "conditions.crash_lopo: true", "conditions.crash_loop"),
    ("conditions.load_driven: true", "conditions.load_drivn: true", "conditions.load_driven"),
])
def test_a_typo_of_a_standard_condition_name_is_an_error(policy_copy, old, new, meant) -> None:
    root = policy_copy(remediation=(old, new))
    (code, line, col, message), = errors(root)
    text = (root / "remediation.yaml").read_text().splitlines()
    at = line_of(root / "remediation.yaml", new)
    assert (code, line, col) == ("unknown-field", at, text[at - 1].index(new.split(":")[0]) + 1)
    assert f"a typo of {meant!r}" in message


def test_metrics_typos_are_errors_and_custom_names_are_not(policy_copy) -> None:
    old = "        - derived.load_ratio: {gte: 2.0}\n"
    new = old + "        - metrics.availabilty: {lt: 0.9}\n        - metrics.queue_depth: {gt: 100}\n"
    root = policy_copy(remediation=(old, new))
    assert [(c, m.split(":")[0]) for c, _, _, m in errors(root)] == [
        ("unknown-field", "unknown field 'metrics.availabilty'")]


def test_simulate_text_says_what_the_json_says() -> None:
    decision = {"event_id": "e", "severity": "CRITICAL", "escalation": {"level": "P0", "steps": []},
                "incident_id": "INC-e", "model": {}, "firings": [], "also_matched": [], "remediation": None,
                "owner": {"team": "t", "fallback": False, "primary": [], "backup": [], "escalation_delay": 0},
                "notifications": [], "problems": [], "rules": {"hash": "ab" * 32, "git_commit": ""},
                "requests": [{"action": "failover", "kind": "remediate", "configured": "yes",
                              "error": "failover: zone_id must be a Route 53 hosted zone id, got None"}]}
    lines = _decision_lines("f.json", decision)
    assert "  would remediate via failover: cannot work: failover: zone_id must be a Route 53 hosted zone id, " \
           "got None" in lines
    assert not any(line.endswith(": ready") for line in lines)
    assert lines[-1] == f"  rules: {'ab' * 6} (not from a Git work tree)"


def test_params_that_vary_per_event_are_only_warned_about(policy_copy) -> None:
    root = policy_copy(remediation=("      step: 2\n", "      step: \"{{ event.metrics.cpu_utilization * 2 }}\"\n"))
    policy, diags = validate(root)
    assert policy is not None
    assert [(d.code, d.severity) for d in diags if d.code == "remediation-cannot-work"] == [
        ("remediation-cannot-work", "warning")]
