"""`rules validate` ends quickly with a clear error on hostile rule files: no hang, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from engine.compiler import templates
from engine.compiler.validate import validate

NESTED_RANGES = "{% for i in range(40000) %}{% for j in range(40000) %}x{% endfor %}{% endfor %}"


def run_validate(rules: Path) -> tuple[int, str]:
    """A subprocess with a timeout: a hang fails the test instead of the CI job never ending."""
    done = subprocess.run([sys.executable, "-m", "engine.cli", "validate", str(rules)], capture_output=True,
                          text=True, timeout=120, check=False)
    return done.returncode, done.stdout + done.stderr


def test_a_template_with_nested_loops_is_rejected_by_its_render_budget(rules_copy, edit) -> None:
    edit("templates.yaml", '      footer: "Incident ID: {{ incident_id }}"', f'      footer: "{NESTED_RANGES}"')
    code, out = run_validate(rules_copy)
    assert code == 1
    assert "error[template-render] /templates/slack/default/attachments/0/footer" in out
    assert "budget of 100000 loop items and calls" in out and "Traceback" not in out


def test_exponential_macros_and_growing_strings_are_stopped_too() -> None:
    for source in ("{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(60) }}",
                   "{% set s = 'a' * 30000 %}{% for i in range(40) %}{% set s = s ~ s %}{% endfor %}{{ s }}",
                   "{{ 'a'.ljust(10**9) }}", "{{ 'a' | center(10**9) }}", "{{ 2 ** 100000 }}"):
        try:
            templates.render_tree(templates.compile_tree(source), {})
        except templates.TemplateProblem as exc:
            assert "TemplateBudgetExceeded" in str(exc), source
        else:
            raise AssertionError(f"rendered: {source}")


def test_ordinary_templates_render_as_before() -> None:
    tree = templates.compile_tree("{{ xs | join(', ') }} {{ 'ab' * 2 }} {% for i in range(3) %}{{ i }}{% endfor %}")
    assert templates.render_tree(tree, {"xs": ["a", "b"]}) == "a, b abab 012"


def test_five_thousand_nested_brackets_are_a_one_line_error(rules_copy) -> None:
    with (rules_copy / "severity.yaml").open("a") as fh:
        fh.write("\nextra: " + "[" * 5000 + "]" * 5000 + "\n")
    code, out = run_validate(rules_copy)
    assert code == 1 and "Traceback" not in out and "RecursionError" not in out
    lines = (rules_copy / "severity.yaml").read_text().splitlines()
    assert f"severity.yaml:{len(lines)}:{len('extra: ') + 65}: error[yaml-too-deep]" in out


def test_a_ten_thousand_rule_file_is_rejected_before_the_semantic_checks(rules_copy) -> None:
    lines = ["kind: severity", "version: 1", "rules:"]
    for i in range(10_000):
        lines += [f"  - id: r{i}", "    severity: MAJOR", "    when:",
                  f"      metrics.error_rate: {{gt: {i / 1e5:.5f}}}"]
    (rules_copy / "severity.yaml").write_text("\n".join(lines) + "\n")
    _, diags = validate(rules_copy)
    assert [(d.code, d.line, d.col) for d in diags if d.severity == "error"] == [("too-many-rules", 4, 3)]
