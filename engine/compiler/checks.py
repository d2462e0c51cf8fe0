"""Semantic checks over a built policy: cross-references, shadowed rules, templates, engine limits.

:data:`CHECKS` is the list the compiler runs after the build stage (engine.compiler.validate.STAGES), in
order, each by name. Each check takes the built policy and the documents by kind and returns
Diagnostics located in the file that holds the offending value. The durable-rules limits are
enforced here so that the engine never sees a ruleset it would reject with a bare number or
hang on (see ``engine/durable/__init__.py``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from engine.compiler import conditions, templates
from engine.compiler.checks_oncall import check_oncall
from engine.compiler.checks_remediation import check_remediation
from engine.compiler.checks_targets import check_targets
from engine.compiler.compile import event_binding, severity_binding
from engine.compiler.implies import shadowing_rule
from engine.compiler.load import Document, escape
from engine.compiler.schema import schema_diagnostics, validator
from engine.model.diagnostics import Diagnostic
from engine.model.policy import RANK, Policy, RemediationRule, SeverityRule
from engine.model.vocabulary import SEVERITIES, STANDARD_CONDITIONS, STANDARD_METRICS

# durable-rules 2.0.28 limits (measured, see engine/durable/__init__.py), with headroom.
MAX_TRUE_AT_ONCE = 64  # alpha paths true for one message → error 303 beyond
MAX_ALTERNATIVES = 450  # sibling tests under one node → create_ruleset hangs at 513
MAX_PATHS = 240  # flattened properties per message → error 302 at 253


Check = Callable[[Policy, Mapping[str, list[Document]]], list[Diagnostic]]


def _docs(by_kind: Mapping[str, list[Document]]) -> dict[str, Document]:
    return {d.path: d for ds in by_kind.values() for d in ds}


def _only(kind: str, by_kind: Mapping[str, list[Document]]) -> Document:
    return by_kind[kind][0]


def _duplicate_ids(policy: Policy, docs: Mapping[str, Document]) -> list[Diagnostic]:
    seen: dict[str, str] = {}
    out = []
    rules: list[SeverityRule | RemediationRule] = [*policy.severity_rules, *policy.remediation]
    for rule in rules:
        doc = docs[rule.origin.file]
        if rule.id in seen:
            out.append(doc.diagnostic(f"{rule.origin.pointer}/id", "duplicate-rule-id",
                                      f"rule id {rule.id!r} is already used at {seen[rule.id]}"))
        else:
            seen[rule.id] = str(rule.origin)
    return out


def _matrix(policy: Policy, doc: Document) -> list[Diagnostic]:
    out = []
    names = sorted(policy.teams)
    for service, team in policy.services.items():
        if team not in policy.teams:
            out.append(doc.diagnostic(f"/services/{escape(service)}", "unknown-team",
                                      f"service {service!r} is owned by unknown team {team!r}", have=team, want=names))
    if policy.fallback_team not in policy.teams:
        out.append(doc.diagnostic("/fallback_team", "unknown-team",
                                  f"fallback team {policy.fallback_team!r} is not defined", want=names))
    for name, owner in policy.teams.items():
        for field, env in (("pagerduty_routing_key_env", owner.routing_key_env),
                           ("pagerduty_backup_routing_key_env", owner.backup_routing_key_env)):
            if env and not os.environ.get(env):
                out.append(doc.diagnostic(f"/teams/{name}/{field}", "adapter-not-configured",
                                          f"team {name!r}: {env} is not set; its PagerDuty pages "
                                          "will be reported as not configured", severity="warning"))
    return out


def _actions(policy: Policy, pol: Document, docs: Mapping[str, Document]) -> list[Diagnostic]:
    from actions.base import ActionConfigError
    from actions.registry import default_registry

    registry = default_registry()
    out = []
    uses: list[tuple[Document, str, str]] = []
    for sev, level in policy.levels.items():
        uses += [(pol, f"/levels/{sev}/pagers/{i}", a) for i, a in enumerate(level.pagers)]
        uses += [(pol, f"/levels/{sev}/fallback/{i}", a) for i, a in enumerate(level.fallback)]
        uses += [(pol, f"/levels/{sev}/channels/{i}", a) for i, a in enumerate(level.channels)]
    uses += [(docs[r.origin.file], f"{r.origin.pointer}/action", r.action) for r in policy.remediation]
    uses += [(pol, f"/actions/{name}", name) for name in policy.action_config]
    reported: set[str] = set()
    for doc, ptr, name in uses:
        if name not in registry:
            out.append(doc.diagnostic(ptr, "unknown-action", registry.unknown_message(name), have=name))
            continue
        if name in reported:
            continue
        reported.add(name)
        try:
            cls = registry.get(name)
        except ActionConfigError as exc:
            out.append(doc.diagnostic(ptr, "action-load-failed", str(exc)))
            continue
        config = policy.action_config.get(name, {})
        if name in policy.action_config:
            before = len(out)
            try:
                out += schema_diagnostics(pol, validator(cls.schema.removesuffix(".schema.json")), f"/actions/{name}")
            except (OSError, ValueError) as exc:
                out.append(pol.diagnostic(f"/actions/{name}", "action-schema", f"cannot read {cls.schema}: {exc}"))
            if len(out) > before:
                continue  # an invalid configuration is reported above; the adapter is not built from it
        if name in policy.used_actions():
            problem = cls(config, os.environ).configured()
            if problem:
                out.append(doc.diagnostic(ptr, "adapter-not-configured",
                                          f"action {name!r} is not configured: {problem}; its requests will be "
                                          "recorded as not-configured", severity="warning"))
    return out


def sample_context(policy: Policy, severity: str) -> dict[str, Any]:
    """A context with every standard field present, to render templates against."""
    event = {
        "event_id": "sample-0001", "timestamp": "2025-01-01T14:23:45Z", "status": "firing",
        "source": "sample", "service": "payment-api", "environment": "production",
        "title": "Sample event", "description": "Rendered by rules validate", "fingerprint": "sample",
        "metrics": {m: 0.5 for m in STANDARD_METRICS}, "logs": [{"level": "error", "message": "x", "count": 1}],
        "traces": {"error_spans": 1, "slow_spans": 1, "total_spans": 10},
        "conditions": {c: False for c in STANDARD_CONDITIONS}, "labels": {}, "runbook_url": "https://runbooks/x",
        "derived": {"log_errors": 1.0, "log_warnings": 0.0, "trace_error_ratio": 0.1, "trace_slow_ratio": 0.1,
                    "healthy_host_ratio": 1.0, "load_ratio": 1.0},
    }
    owner = {"team": "sample", "primary": ["a@example.com"], "backup": ["b@example.com"], "escalation_delay": 300,
             "fallback": False, "notify": []}
    return templates.context(event, severity, policy.levels[severity].level, policy.colors.get(severity, ""),
                             "INC-sample-0001", owner, {"action": "restart", "rule": "sample"}, ["sample"],
                             {"label": severity, "confidence": 0.9})


def _templates(policy: Policy, tpl: Document, pol: Document,
               docs_by_file: Mapping[str, Document] | None = None) -> list[Diagnostic]:
    out = []
    compiled: dict[str, Any] = {}
    for channel, per_sev in policy.templates.items():
        try:
            compiled[channel] = templates.compile_tree(per_sev, f"/templates/{escape(channel)}")
        except templates.TemplateProblem as exc:
            out.append(tpl.diagnostic(exc.pointer, "template-syntax", str(exc)))
            continue
        for key, tree in compiled[channel].items():
            for sev in SEVERITIES if key == "default" else (key,):
                pointer = f"/templates/{escape(channel)}/{key}"
                try:
                    message = templates.render_tree(tree, sample_context(policy, sev), pointer)
                except templates.TemplateProblem as exc:
                    out.append(tpl.diagnostic(exc.pointer, "template-render", str(exc)))
                    break
                problem = _adapter_problem(policy, channel, sev, message)
                if problem:
                    out.append(tpl.diagnostic(pointer, "template-shape",
                                              f"the {channel!r} adapter cannot build a request from this template "
                                              f"({problem}); see the message shape documented in actions/{channel}.py",
                                              key=True))
                    break
    for rule in policy.remediation:  # string params are templates too: render them the same way
        doc = docs_by_file.get(rule.origin.file) if docs_by_file else None
        try:
            tree = templates.compile_tree(rule.params, f"{rule.origin.pointer}/params")
            templates.render_tree(tree, sample_context(policy, rule.severity), f"{rule.origin.pointer}/params")
        except templates.TemplateProblem as exc:
            if doc is not None:
                out.append(doc.diagnostic(exc.pointer, "template-render", str(exc)))
    for sev, level in policy.levels.items():
        for i, channel in enumerate(level.channels):
            if channel != "log" and templates.pick(policy.templates, channel, sev) is None:
                out.append(pol.diagnostic(f"/levels/{sev}/channels/{i}", "missing-template",
                                          f"channel {channel!r} has no template for {sev} (and no 'default') "
                                          f"in {tpl.path}"))
    return out


def _adapter_problem(policy: Policy, channel: str, severity: str, message: Any) -> str | None:
    """Why the channel's adapter fails to render a rendered sample message (a wrong shape: a list where
    it reads a mapping...), else None. Configuration problems are reported by the action checks."""
    from actions.base import ActionError, Intent
    from actions.registry import default_registry

    registry = default_registry()
    if channel not in registry or not isinstance(message, Mapping):
        return None
    intent = Intent(action=channel, kind="notify", incident_id="INC-sample-0001", event_id="sample-0001",
                    severity=severity, service="payment-api", environment="production",
                    level=policy.levels[severity].level, targets=("a@example.com",), message=message)
    try:
        adapter = registry.create(channel, policy.action_config.get(channel, {}), {})
    except Exception:  # noqa: BLE001 - an invalid configuration: the action checks report it against its schema
        return None
    try:
        adapter.render(intent)
    except ActionError:
        return None
    except Exception as exc:  # the adapter's render is pure: any other error is the template's shape
        return f"{type(exc).__name__}: {exc}"
    return None


def _shadowed(policy: Policy, docs: Mapping[str, Document]) -> list[Diagnostic]:
    ordered = sorted(enumerate(policy.severity_rules), key=lambda p: (-RANK[p[1].severity], p[0]))
    out = []
    for j, (_, rule) in enumerate(ordered):
        if rule.when is None:
            continue
        earlier = [r for _, r in ordered[:j] if r.when is not None]
        winner = shadowing_rule(rule.when, [(r.id, r.when) for r in earlier])
        if winner:
            other = next(r for r in earlier if r.id == winner)
            out.append(docs[rule.origin.file].diagnostic(
                f"{rule.origin.pointer}/when", "shadowed-rule",
                f"rule {rule.id!r} can never decide the severity: whenever it matches, {other.id!r} "
                f"({other.severity}, {other.origin}) matches and wins"))
    return out


def _limits(policy: Policy, docs: Mapping[str, Document]) -> list[Diagnostic]:
    out = []
    true_at_once = 1  # the default-severity rule always matches an event fact
    rules: list[SeverityRule | RemediationRule] = [*policy.severity_rules, *policy.remediation]
    referenced: set[str] = set()
    for rule in rules:
        doc = docs[rule.origin.file]
        if rule.when is None:
            true_at_once += 1
            continue
        try:
            expr = conditions.compile_expr(rule.when)
        except conditions.ConditionError as exc:
            out.append(doc.diagnostic(exc.pointer or f"{rule.origin.pointer}/when", exc.code, str(exc)))
            continue
        referenced |= conditions.paths(rule.when) | conditions.paths(rule.when, engine=True)  # what is posted
        binding = event_binding(rule.when) if isinstance(rule, SeverityRule) else severity_binding(rule.severity,
                                                                                                   rule.when)
        if (slots := conditions.expression_slots(binding)) > conditions.MAX_SLOTS:
            out.append(doc.diagnostic(
                f"{rule.origin.pointer}/when", "engine-limit",
                f"rule {rule.id!r} compiles to {slots // 2} and/or groups (an all/any of several items, an 'in' "
                f"of several values, a 'not' over eq/in/a comparison: one each); the engine allows "
                f"{conditions.MAX_SLOTS // 2} per rule (durable-rules error 113): split it into several rules"))
            continue
        terms = conditions.dnf_terms(expr)
        true_at_once += terms
        if true_at_once > MAX_TRUE_AT_ONCE:
            out.append(doc.diagnostic(
                f"{rule.origin.pointer}/when", "engine-limit",
                f"with rule {rule.id!r} up to {true_at_once} condition alternatives could be true for one event; "
                f"the engine allows {MAX_TRUE_AT_ONCE} (durable-rules error 303): merge rules or split the policy"))
            break
        if terms > MAX_ALTERNATIVES:
            out.append(doc.diagnostic(f"{rule.origin.pointer}/when", "engine-limit",
                                      f"rule {rule.id!r} expands to {terms} alternatives; the limit is "
                                      f"{MAX_ALTERNATIVES}"))
    if len(referenced) > MAX_PATHS:
        first = rules[0]
        out.append(docs[first.origin.file].diagnostic(
            "", "engine-limit", f"rules reference {len(referenced)} distinct fields; the limit is {MAX_PATHS}"))
    return out


CHECKS: tuple[tuple[str, Check], ...] = (
    ("duplicate-ids", lambda p, k: _duplicate_ids(p, _docs(k))),
    ("matrix", lambda p, k: _matrix(p, _only("escalation-matrix", k))),
    ("oncall", lambda p, k: check_oncall(p, _only("escalation-matrix", k))),
    ("actions", lambda p, k: _actions(p, _only("escalation-policy", k), _docs(k))),
    ("targets", lambda p, k: check_targets(p, _docs(k))),  # remediation targets from the policy, not the event
    ("templates", lambda p, k: _templates(p, _only("templates", k), _only("escalation-policy", k), _docs(k))),
    ("remediation", lambda p, k: check_remediation(p, _docs(k), sample_context)),
    ("shadowing", lambda p, k: _shadowed(p, _docs(k))),
    ("engine-limits", lambda p, k: _limits(p, _docs(k))),  # durable-rules' hard limits: last, over every rule
)
