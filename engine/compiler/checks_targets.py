"""Remediation targets come from the policy: a rule whose target would come from event data needs an allow list.

Takes the built policy and its documents; returns one ``target-from-event`` error per remediation rule
parameter whose value would be chosen by the event (a template such as ``"{{ event.service }}"``, or a
missing parameter that the adapter fills in from the event's ``service``) while the action's config
(``escalation-policy.yaml`` ``actions.<name>.allow``) has no allow list. The adapters enforce the same
at run time (``actions/restart.py``, ``scale_out.py``, ``failover.py``): with an allow list nothing
outside it is touched, without one a target taken from ``service`` is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.compiler.load import Document
from engine.model.diagnostics import Diagnostic
from engine.model.policy import Policy, RemediationRule

RESTART_PARAMS = {"systemctl": ("unit",), "kubectl": ("deployment", "namespace"), "docker": ("container",)}
# For each param: the config mapping (service -> value) that fills it in when the rule leaves it out,
# or None when a missing param is not filled in from the event.
FALLBACKS: dict[str, dict[str, str | None]] = {
    "scale-out": {"asg": "groups"},
    "failover": {"record": None, "to": None},
}


def _templated(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def _target_params(rule: RemediationRule, config: Mapping[str, Any]) -> dict[str, str | None]:
    if rule.action == "restart":
        method = str(rule.params.get("method", config.get("method", "systemctl")))
        params = RESTART_PARAMS.get(method, ())
        # the name falls back to names[service], then service; the namespace to config (policy) data
        return {p: ("names" if p != "namespace" else None) for p in params}
    return FALLBACKS.get(rule.action, {})


def check_targets(policy: Policy, docs: Mapping[str, Document]) -> list[Diagnostic]:
    out = []
    for rule in policy.remediation:
        config = policy.action_config.get(rule.action, {})
        if config.get("allow") is not None:
            continue
        doc = docs[rule.origin.file]
        for param, fallback in _target_params(rule, config).items():
            value = rule.params.get(param)
            if _templated(value):
                pointer, why = f"{rule.origin.pointer}/params/{param}", f"its {param} is a template ({value!r})"
            elif value is None and fallback is not None and not config.get(fallback):
                # with a names/groups mapping the policy picks; an unmapped service is refused at run time
                pointer, why = f"{rule.origin.pointer}/action", f"it names no {param}, so the event's service picks it"
            else:
                continue
            out.append(doc.diagnostic(pointer, "target-from-event",
                                      f"rule {rule.id!r}: {why}, and actions.{rule.action} has no 'allow' list; "
                                      f"list the {rule.action} targets the policy may touch in "
                                      f"escalation-policy.yaml actions.{rule.action}.allow",
                                      have=value, want=f"actions.{rule.action}.allow"))
    return out
