"""``remediation-cannot-work``: a remediation whose request can never be built, found before an incident.

For every remediation rule and every service the matrix names, the rule's params are rendered
against the sample context (``engine.compiler.checks.sample_context``, with that service) and handed
to the adapter's pure ``render`` with the policy's action config: exactly what the executor does
before a send. An adapter that refuses (a failover with no Route 53 ``zone_id`` for the service, a
restart ``method`` that is not systemctl/kubectl/docker, a DNS name that is not one…) is an error at
the rule's ``params``: the request would fail in every real incident. Adapters that render the same
for any credentials are checked without them (``render`` never reads secrets). When the params use
values that differ per event (``event.metrics``, ``conditions``, ``derived``, ``labels``…), the sample
event's values decide the outcome, so it is only a warning.
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Callable, Mapping
from typing import Any

from engine.compiler import templates
from engine.compiler.load import Document
from engine.model.diagnostics import Diagnostic
from engine.model.policy import Policy

PER_EVENT = re.compile(r"\{[{%][^}]*\b(metrics|conditions|derived|labels|traces|logs|history|model)\b")


def check_remediation(policy: Policy, docs: Mapping[str, Document],
                      context: Callable[[Policy, str], dict[str, Any]]) -> list[Diagnostic]:
    from actions.base import ActionError, Intent
    from actions.registry import default_registry

    registry = default_registry()
    out: list[Diagnostic] = []
    services = sorted(policy.services) or ["sample-service"]
    for rule in policy.remediation:
        if rule.action not in registry or not rule.params and rule.action == "log":
            continue
        try:
            adapter = registry.create(rule.action, policy.action_config.get(rule.action, {}), os.environ)
            params = templates.MessageTemplate(rule.params, f"remediation {rule.id} params")
        except (ActionError, Exception) as exc:  # reported by the action/template checks already
            del exc
            continue
        failed: dict[str, list[str]] = {}
        for service in services:
            ctx = copy.deepcopy(context(policy, rule.severity))
            ctx["event"]["service"] = service
            try:
                rendered = params.render(ctx)
                intent = Intent(action=rule.action, kind="remediate", incident_id="INC-validate", event_id="validate",
                                severity=rule.severity, service=service, environment="production",
                                params=rendered, rule_id=rule.id)
                adapter.render(intent)
            except ActionError as exc:
                failed.setdefault(str(exc), []).append(service)
            except Exception:  # noqa: BLE001 - a template problem: the template checks report it
                break
        doc = docs[rule.origin.file]
        varies = bool(PER_EVENT.search(json.dumps(rule.params)))
        for why, names in failed.items():
            which = "every service" if len(names) == len(services) else "services " + ", ".join(names)
            out.append(doc.diagnostic(f"{rule.origin.pointer}/params", "remediation-cannot-work",
                                      f"remediation {rule.id!r} ({rule.action}) can never work for {which}: {why}",
                                      hint=f"fix the rule's params or actions.{rule.action} in the policy"
                                      + (" (rendered with the sample event's values)" if varies else ""),
                                      severity="warning" if varies else "error"))
    return out
