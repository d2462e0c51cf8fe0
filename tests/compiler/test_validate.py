"""`rules validate`: every problem reported, each at its exact file:line:col with a stable code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from core_util import RULES, line_col

from engine.compiler.validate import validate


def errors(root: Path) -> list:
    policy, diags = validate(root)
    errs = [d for d in diags if d.severity == "error"]
    assert (policy is None) == bool(errs)
    return errs


def at(root: Path, name: str, needle: str, occurrence: int = 1) -> tuple[str, int, int]:
    path = root / name
    line, col = line_col(path.read_text(), needle, occurrence)
    return (str(path), line, col)


def where(d) -> tuple[str, int, int]:
    return (d.file, d.line, d.col)


def test_shipped_policy_is_clean() -> None:
    policy, diags = validate(RULES)
    assert policy is not None
    assert [d for d in diags if d.severity == "error"] == []


def test_unknown_key_points_at_the_key(rules_copy, edit) -> None:
    edit("severity.yaml", "    severity: CRITICAL\n    description: The monitor",
         "    severity: CRITICAL\n    sevrity: MAJOR\n    description: The monitor")
    (err,) = errors(rules_copy)
    assert err.code == "schema-unknown-key"
    assert where(err) == at(rules_copy, "severity.yaml", "sevrity")
    assert err.pointer == "/rules/0/sevrity"
    assert "severity" in err.want


def test_bad_enum_value(rules_copy, edit) -> None:
    edit("severity.yaml", "severity: CRITICAL", "severity: SEVERE")
    (err,) = errors(rules_copy)
    assert err.code == "schema-enum"
    assert where(err) == at(rules_copy, "severity.yaml", "SEVERE")
    assert err.want == ["CRITICAL", "MAJOR", "MODERATE", "NONE"]


def test_missing_required_property(rules_copy, edit) -> None:
    edit("escalation-matrix.yaml", "    escalation_delay: 180  # 3 minutes\n", "")
    (err,) = errors(rules_copy)
    assert err.code == "schema-required"
    assert err.pointer == "/teams/frontend"
    assert where(err) == at(rules_copy, "escalation-matrix.yaml", 'primary: ["dave')


def test_negative_delay_and_empty_primary(rules_copy, edit) -> None:
    edit("escalation-matrix.yaml", "escalation_delay: 180", "escalation_delay: -5")
    edit("escalation-matrix.yaml", 'primary: ["dave@company.com"]', "primary: []")
    errs = errors(rules_copy)
    assert sorted(e.code for e in errs) == ["schema-minItems", "schema-minimum"]
    assert {where(e) for e in errs} == {at(rules_copy, "escalation-matrix.yaml", "-5"),
                                        at(rules_copy, "escalation-matrix.yaml", "[]")}


def test_unknown_field_and_wrong_operator_type(rules_copy, edit) -> None:
    edit("severity.yaml", "conditions.data_loss_risk: true", "conditions.data_loss_risk: {gt: 1}")
    edit("severity.yaml", "metrics.latency_p99_ms: {gte: 1000}", "metric.latency_p99_ms: {gte: 1000}")
    errs = sorted(errors(rules_copy), key=lambda d: d.line)
    assert [e.code for e in errs] == ["operator-type", "unknown-field"]
    file, line, col = at(rules_copy, "severity.yaml", "gt: 1")
    assert where(errs[0]) == (file, line, col + len("gt: "))  # the offending value
    assert "compares numbers" in errs[0].message
    assert where(errs[1]) == at(rules_copy, "severity.yaml", "metric.latency_p99_ms")


def test_unknown_action_suggests_the_closest(rules_copy, edit) -> None:
    edit("escalation-policy.yaml", "pagers: [pagerduty, slack]", "pagers: [pagerdutyy, slack]")
    (err,) = errors(rules_copy)
    assert err.code == "unknown-action"
    assert where(err) == at(rules_copy, "escalation-policy.yaml", "pagerdutyy")
    assert 'did you mean "pagerduty"' in err.message
    assert "available actions are:" in err.message


def test_unknown_team_and_fallback(rules_copy, edit) -> None:
    edit("escalation-matrix.yaml", "search-api: frontend", "search-api: frontnd")
    edit("escalation-matrix.yaml", "fallback_team: sre", "fallback_team: nobody")
    errs = errors(rules_copy)
    assert sorted(e.code for e in errs) == ["unknown-team", "unknown-team"]
    assert {where(e) for e in errs} == {at(rules_copy, "escalation-matrix.yaml", "frontnd"),
                                        at(rules_copy, "escalation-matrix.yaml", "nobody")}


def test_duplicate_rule_id(rules_copy, edit) -> None:
    edit("severity.yaml", "id: crash-loop", "id: partial-outage")
    (err,) = errors(rules_copy)
    assert err.code == "duplicate-rule-id"
    assert where(err) == at(rules_copy, "severity.yaml", "partial-outage", 2)
    assert "already used at" in err.message


def test_shadowed_rule_is_reported_with_the_winner(rules_copy, edit) -> None:
    edit("severity.yaml", "metrics.latency_p99_ms: {gte: 500}", "metrics.latency_p99_ms: {gte: 1500}")
    (err,) = errors(rules_copy)
    assert err.code == "shadowed-rule"
    assert "'latency-elevated' can never decide" in err.message
    assert "'latency-degraded'" in err.message
    assert err.pointer.endswith("/when")


def test_template_errors(rules_copy, edit) -> None:
    edit("templates.yaml", "{{ event.service }}: {{ event.title or 'incident' }}\"\n  opsgenie",
         "{{ event.servce }}\"\n  opsgenie")
    edit("templates.yaml", 'text: "{{ event.description or', 'text: "{{ event.description or (')
    errs = sorted(errors(rules_copy), key=lambda d: d.line)
    assert [e.code for e in errs] == ["template-syntax", "template-render"]
    assert "servce" in errs[1].message
    assert errs[1].pointer == "/templates/pagerduty/default/summary"


def test_engine_limit_is_a_validation_error(rules_copy) -> None:
    rules = "\n".join(
        f"  - id: r{i}\n    severity: MODERATE\n    when:\n      metrics.m{i}: {{gte: 1}}" for i in range(80))
    (rules_copy / "severity.yaml").write_text(f"kind: severity\nversion: 1\nrules:\n{rules}\n")
    errs = errors(rules_copy)
    assert [e.code for e in errs] == ["engine-limit"]
    assert "error 303" in errs[0].message
    assert errs[0].pointer == "/rules/63/when"


def test_every_problem_is_reported_not_just_the_first(rules_copy, edit) -> None:
    edit("severity.yaml", "severity: CRITICAL", "severity: SEVERE")
    edit("escalation-matrix.yaml", "escalation_delay: 180", "escalation_delay: -1")
    edit("templates.yaml", "kind: templates", "kind: tempaltes")
    codes = sorted(e.code for e in errors(rules_copy))
    assert codes == ["schema-enum", "schema-minimum", "unknown-kind"]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], capture_output=True, text=True, timeout=60)


def test_cli_formats_and_exit_codes(rules_copy, edit) -> None:
    ok = run_cli("validate", str(RULES))
    assert ok.returncode == 0, ok.stderr
    assert "error[" not in ok.stdout
    edit("escalation-policy.yaml", "pagers: [pagerduty, slack]", "pagers: [pagerdutyy, slack]")
    text = run_cli("validate", str(rules_copy))
    assert text.returncode == 1
    file, line, col = at(rules_copy, "escalation-policy.yaml", "pagerdutyy")
    assert f"{file}:{line}:{col}: error[unknown-action] /levels/CRITICAL/pagers/0: " in text.stdout
    assert "Traceback" not in text.stdout + text.stderr
    gh = run_cli("validate", str(rules_copy), "--format", "github")
    assert f"::error file={file},line={line},col={col},title=unknown-action::" in gh.stdout
    js = run_cli("validate", str(rules_copy), "--format", "json")
    doc = json.loads(js.stdout)
    assert doc["version"] == 1
    assert [(e["code"], e["line"], e["col"]) for e in doc["errors"]] == [("unknown-action", line, col)]


def test_cli_bad_inputs_give_one_line_errors(tmp_path: Path) -> None:
    (tmp_path / "bomb.yaml").write_text("a: &a [1,1,1,1,1,1,1,1,1]\n" + "\n".join(
        f"{c}: &{c} [" + ",".join([f"*{p}"] * 9) + "]" for p, c in zip("abcdefghij", "bcdefghijk", strict=True)))
    (tmp_path / "tag.yaml").write_text("kind: !!python/object:os.system {}\n")
    (tmp_path / "latin1.yaml").write_bytes(b"kind: caf\xe9\n")
    (tmp_path / "empty.yaml").write_text("")
    with (tmp_path / "huge.yaml").open("wb") as f:
        f.truncate(50 * 1024 * 1024)
    res = run_cli("validate", str(tmp_path))
    assert res.returncode == 1
    assert "Traceback" not in res.stdout + res.stderr
    codes = {line.split("error[")[1].split("]")[0] for line in res.stdout.splitlines() if "error[" in line}
    assert {"yaml-alias-bomb", "yaml-unsafe-tag", "not-utf8", "empty-file", "file-too-large"} <= codes


def test_remediation_params_are_rendered_at_validation(rules_copy, edit) -> None:
    edit("remediation.yaml", 'asg: "{{ event.service }}"', 'asg: "{{ event.servce }}"')
    (err,) = errors(rules_copy)
    assert err.code == "template-render" and "servce" in err.message
    assert err.pointer == "/rules/1/params/asg"
    assert where(err) == at(rules_copy, "remediation.yaml", '"{{ event.servce }}"')


def test_rules_hash_covers_the_files_not_where_they_are(rules_copy: Path, monkeypatch) -> None:
    """The audit log's rules_hash is "sha256 over the rule files" (README): the same files give the same
    hash from a copy, by an absolute or a relative --rules, and any edit changes it."""
    shipped = validate(RULES)[0].digest
    monkeypatch.chdir(RULES.parent)
    assert validate(Path("rules"))[0].digest == shipped
    assert validate(rules_copy)[0].digest == shipped
    path = rules_copy / "templates.yaml"
    path.write_text(path.read_text() + "\n# a comment is an edit too\n")
    assert validate(rules_copy)[0].digest != shipped


def test_a_file_that_does_not_parse_is_the_only_error_not_also_a_missing_kind(rules_copy) -> None:
    from engine.compiler.validate import validate

    path = rules_copy / "severity.yaml"
    lines = path.read_text().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.startswith("    severity: "))
    lines[at] = "  " + lines[at]  # misindented under its "- id:" line
    path.write_text("".join(lines))
    policy, diags = validate(rules_copy)
    errors = [(d.code, d.line) for d in diags if d.severity == "error"]
    assert policy is None
    assert errors == [("yaml-syntax", at + 1)]
