"""`rules validate` rejects a remediation rule whose target the event would choose without an allow list."""

from __future__ import annotations

from core_util import line_col

from engine.compiler.validate import validate

ALLOW = "  restart:\n    allow:"


def target_errors(root):
    _, diags = validate(root)
    return [d for d in diags if d.code == "target-from-event"]


def test_shipped_policy_names_its_targets() -> None:
    from core_util import RULES
    assert target_errors(RULES) == []


def test_templated_deployment_and_namespace_without_allow_list_are_reported_at_the_param(rules_copy, edit) -> None:
    path = rules_copy / "escalation-policy.yaml"
    text = path.read_text()
    start = text.index(ALLOW)
    path.write_text(text[:start] + text[text.index("  scale-out:", start):])
    errs = target_errors(rules_copy)
    assert [e.pointer for e in errs] == ["/rules/2/params/deployment", "/rules/2/params/namespace"]
    remediation = (rules_copy / "remediation.yaml").read_text()
    line, col = line_col(remediation, 'deployment: "{{ event.service }}"')
    assert (errs[0].line, errs[0].col) == (line, col + len("deployment: "))
    assert "actions.restart has no 'allow' list" in errs[0].message


def test_a_rule_naming_no_unit_takes_it_from_the_event(rules_copy, edit) -> None:
    path = rules_copy / "escalation-policy.yaml"
    text = path.read_text()
    start = text.index(ALLOW)
    path.write_text(text[:start] + text[text.index("  scale-out:", start):])
    edit("remediation.yaml", "      method: kubectl\n      deployment: \"{{ event.service }}\"\n"
         "      namespace: \"{{ event.environment }}\"\n", "      method: systemctl\n")
    (err,) = target_errors(rules_copy)
    assert err.pointer == "/rules/2/action"
    assert "names no unit, so the event's service picks it" in err.message


def test_a_literal_target_needs_no_allow_list(rules_copy, edit) -> None:
    path = rules_copy / "escalation-policy.yaml"
    text = path.read_text()
    start = text.index(ALLOW)
    path.write_text(text[:start] + text[text.index("  scale-out:", start):])
    edit("remediation.yaml", "deployment: \"{{ event.service }}\"\n      namespace: \"{{ event.environment }}\"",
         "deployment: payment-api\n      namespace: production")
    assert target_errors(rules_copy) == []
