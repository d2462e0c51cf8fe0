"""The compiler as a list of named stages: load → schema → build → the named checks → compile."""

from __future__ import annotations

import shutil
from pathlib import Path

from core_util import RULES

from engine.compiler.checks import CHECKS
from engine.compiler.compile import CompiledPolicy
from engine.compiler.validate import STAGES, compile_rules, run_stages, validate


def test_the_stages_are_one_list_in_data_flow_order() -> None:
    names = [s.name for s in STAGES]
    assert names == ["load", "schema", "build", *(f"check:{name}" for name, _ in CHECKS), "compile"]
    assert [n for n, _ in CHECKS] == ["duplicate-ids", "matrix", "oncall", "actions", "targets", "templates",
                                     "remediation", "shadowing", "engine-limits"]


def test_compile_rules_runs_every_stage_and_validate_all_but_compile() -> None:
    compiled, problems = compile_rules(RULES)
    assert isinstance(compiled, CompiledPolicy) and not [d for d in problems if d.severity == "error"]
    policy, again = validate(RULES)
    assert policy == compiled.policy and again == problems


def test_a_schema_error_stops_before_the_policy_is_built(tmp_path: Path) -> None:
    root = tmp_path / "rules"
    shutil.copytree(RULES, root)
    path = root / "severity.yaml"
    path.write_text(path.read_text().replace("rules:", "rulez:", 1))
    c = run_stages(root)
    assert c.stopped and c.policy is None and c.compiled is None
    assert {d.code for d in c.diagnostics} >= {"schema-required"}
