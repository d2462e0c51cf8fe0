"""A wrong type in an action's configuration is a schema error at its line, never a traceback from the
adapter being built on it (the fuzz target found ``email: {to: null}`` crashing the template check)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from actions.registry import default_registry
from engine.compiler.schema import SCHEMA_DIR
from engine.compiler.validate import validate

CASES = [(name, prop) for name in sorted(default_registry().names())
         for prop in sorted(json.loads((SCHEMA_DIR / "actions" / f"{name}.schema.json").read_text())
                            .get("properties", {}))]


@pytest.mark.parametrize(("action", "prop"), CASES, ids=[f"{a}.{p}" for a, p in CASES])
def test_a_null_action_setting_is_one_schema_error(rules_copy: Path, action: str, prop: str) -> None:
    path = rules_copy / "escalation-policy.yaml"
    doc = yaml.safe_load(path.read_text())
    doc.setdefault("actions", {}).setdefault(action, {})[prop] = None
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    policy, diags = validate(rules_copy)
    errors = [d for d in diags if d.severity == "error"]
    assert policy is None
    (schema,) = [d for d in errors if d.pointer == f"/actions/{action}/{prop}"]
    assert schema.code.startswith("schema") and schema.line > 0
    # follow-ons name what the bad setting breaks (a null allow-list admits no target), nothing else
    others = [d for d in errors if d is not schema]
    assert all(d.pointer.startswith("/rules/") and "allow" in d.message for d in others) if prop == "allow" \
        else others == []
