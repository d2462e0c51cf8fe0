"""Validate rule documents: JSON Schema per kind, then build the typed :class:`Policy`.

Takes the :class:`~engine.compiler.load.Document` list from :mod:`engine.compiler.load` and returns
``(policy_or_None, diagnostics)``. Never raises for bad rules: every problem is a
Diagnostic with file:line:col and the JSON pointer. Cross-reference checks, engine limits
and shadowing live in :mod:`engine.compiler.checks`, which this module runs last.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from engine.compiler import conditions
from engine.compiler.load import Document, escape
from engine.compiler.suppression import build as build_suppression
from engine.model.diagnostics import Diagnostic
from engine.model.policy import (
    DEFAULT_COLORS,
    EscalationStep,
    Level,
    Origin,
    Override,
    Policy,
    RemediationRule,
    Rotation,
    SeverityRule,
    Team,
)
from engine.resources import resource

SCHEMA_DIR = resource("schemas")
KINDS = ("severity", "escalation-matrix", "escalation-policy", "remediation", "templates", "suppression")
SINGLE = ("escalation-matrix", "escalation-policy", "templates", "suppression")
OPTIONAL = ("remediation", "suppression")


@cache
def validator(name: str) -> Draft202012Validator:
    schema = json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def schema_diagnostics(doc: Document, validator_: Draft202012Validator, base: str = "") -> list[Diagnostic]:
    """Translate every jsonschema error for ``doc`` (or the part at ``base``) into Diagnostics."""
    instance = _at(doc.data, base)
    out = []
    for err in sorted(validator_.iter_errors(instance), key=lambda e: list(e.absolute_path)):
        out.append(_translate(doc, err, base))
    return out


def _at(data: Any, pointer: str) -> Any:
    for token in [t for t in pointer.split("/") if t]:
        token = token.replace("~1", "/").replace("~0", "~")
        data = data[int(token)] if isinstance(data, list) else data[token]
    return data


def _translate(doc: Document, err: ValidationError, base: str) -> Diagnostic:
    pointer = base + "".join(f"/{escape(str(p))}" for p in err.absolute_path)
    code = f"schema-{err.validator}"
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        allowed = sorted((err.schema.get("properties") or {}).keys())
        extra = [k for k in err.instance if k not in allowed]
        if allowed and extra:
            key_ptr = f"{pointer}/{escape(extra[0])}"
            return doc.diagnostic(key_ptr, "schema-unknown-key", f"unknown key {extra[0]!r}", key=True,
                                  have=extra[0], want=allowed)
    if err.validator == "required":
        return doc.diagnostic(pointer, "schema-required", err.message.replace("'", '"'), want=err.validator_value)
    if err.validator in ("enum", "const"):
        want = err.validator_value if err.validator == "enum" else [err.validator_value]
        return doc.diagnostic(pointer, code, f"{err.instance!r} is not allowed", have=err.instance, want=want)
    if err.validator == "type":
        return doc.diagnostic(pointer, code, f"{err.instance!r} is not of type {err.validator_value!r}",
                              have=type(err.instance).__name__, want=err.validator_value)
    return doc.diagnostic(pointer, code, err.message, have=None, want=None)


def validate_documents(docs: list[Document], rules_root: str = "rules") -> tuple[Policy | None, list[Diagnostic]]:
    diags: list[Diagnostic] = []
    by_kind: dict[str, list[Document]] = {k: [] for k in KINDS}
    for doc in docs:
        kind = doc.kind
        if kind not in KINDS:
            have = "missing" if kind is None else kind
            diags.append(doc.diagnostic("/kind", "unknown-kind", f"unknown kind {have!r}", have=have,
                                        want=list(KINDS)))
            continue
        schema_errors = schema_diagnostics(doc, validator(kind))
        diags += schema_errors
        if not schema_errors:
            by_kind[kind].append(doc)
    for kind in KINDS:
        n = len(by_kind[kind])
        if kind in SINGLE and n > 1:
            for doc in by_kind[kind][1:]:
                diags.append(doc.diagnostic("/kind", "duplicate-kind",
                                            f"only one {kind!r} file is allowed (also in {by_kind[kind][0].path})"))
    if any(d.severity == "error" for d in diags):
        return None, diags
    missing = [k for k in KINDS if k not in OPTIONAL and not by_kind[k]]
    if missing:
        return None, [Diagnostic(rules_root, 1, 1, "missing-kind", f"no valid rule file of kind {k!r}")
                      for k in missing]
    policy = _build(by_kind, diags)
    from engine.compiler.checks import check_policy  # after build: checks need the typed policy

    diags += check_policy(policy, by_kind)
    return (None if any(d.severity == "error" for d in diags) else policy), diags


def _origin(doc: Document, pointer: str) -> Origin:
    line, col = doc.where(pointer)
    return Origin(doc.path, pointer, line, col)


def _condition(doc: Document, raw: Any, pointer: str, diags: list[Diagnostic]) -> Any:
    try:
        return conditions.parse(raw, pointer)
    except conditions.ConditionError as exc:
        key = exc.code in ("unknown-field", "unknown-operator")
        diags.append(doc.diagnostic(exc.pointer, exc.code, str(exc), key=key, want=exc.want))
        return None


def _build(by_kind: Mapping[str, list[Document]], diags: list[Diagnostic]) -> Policy:
    sev_rules: list[SeverityRule] = []
    default = "NONE"
    for doc in by_kind["severity"]:
        default = doc.data.get("default", default)
        for i, r in enumerate(doc.data["rules"]):
            ptr = f"/rules/{i}"
            when = _condition(doc, r.get("when"), f"{ptr}/when", diags)
            sev_rules.append(SeverityRule(r["id"], r["severity"], when, r.get("description", ""), _origin(doc, ptr)))
    remediation: list[RemediationRule] = []
    for doc in by_kind["remediation"]:
        for i, r in enumerate(doc.data["rules"]):
            ptr = f"/rules/{i}"
            when = _condition(doc, r.get("when"), f"{ptr}/when", diags)
            remediation.append(RemediationRule(r["id"], r["severity"], when, r["action"], dict(r.get("params") or {}),
                                               r.get("description", ""), _origin(doc, ptr)))
    matrix = by_kind["escalation-matrix"][0].data
    teams = {name: _team(name, t) for name, t in matrix["teams"].items()}
    pol = by_kind["escalation-policy"][0].data
    levels = {
        sev: Level(sev, lv["level"], tuple(lv.get("notify", ())), tuple(lv.get("pagers", ())),
                   tuple(lv.get("channels", ())), lv.get("repeat", 0),
                   tuple(EscalationStep(tuple(s["targets"]), s.get("delay")) for s in lv.get("steps", ())),
                   lv.get("retry_budget_minutes"), tuple(lv.get("fallback", ())))
        for sev, lv in pol["levels"].items()
    }
    tpl = by_kind["templates"][0].data
    all_docs = sorted((d for ds in by_kind.values() for d in ds), key=lambda d: d.path)
    # The rules hash: each file's name within the rules directory and its bytes, so the same files hash
    # the same wherever they are and however --rules is spelled (``path`` is the display path).
    named = sorted((d.rel or d.path, d.digest) for d in all_docs)
    digest = hashlib.sha256("".join(f"{name}\0{sha}\n" for name, sha in named).encode()).hexdigest()
    return Policy(
        severity_rules=tuple(sev_rules),
        default_severity=default,
        teams=teams,
        services={s: t for s, t in matrix["services"].items() if t},  # no owner: fallback (warned in checks)
        fallback_team=matrix["fallback_team"],
        levels=levels,
        action_config={k: dict(v) for k, v in (pol.get("actions") or {}).items()},
        remediation=tuple(remediation),
        templates=tpl["templates"],
        colors={**DEFAULT_COLORS, **(tpl.get("colors") or {})},
        digest=digest,
        files=tuple(d.path for d in all_docs),
        suppression=build_suppression(by_kind["suppression"][0], diags) if by_kind["suppression"] else None,
        slack_users=dict(matrix.get("slack_users") or {}),
    )


def _team(name: str, t: Mapping[str, Any]) -> Team:
    rot = t.get("rotation")
    return Team(
        name=name,
        primary=tuple(t["primary"]),
        backup=tuple(t.get("backup", ())),
        escalation_delay=int(t["escalation_delay"]),
        slack=t.get("slack", ""),
        routing_key_env=t.get("pagerduty_routing_key_env", ""),
        backup_routing_key_env=t.get("pagerduty_backup_routing_key_env", ""),
        rotation=Rotation(tuple(rot["members"]), rot["handoff"], rot.get("start", "")) if rot else None,
        overrides=tuple(Override(o["who"], o["covers"], o["start"], o["end"], o.get("reason", ""))
                        for o in t.get("overrides", ())),
    )


def validate(root: Path) -> tuple[Policy | None, list[Diagnostic]]:
    """Load and validate every rule file under ``root``: the whole of ``rules validate``."""
    from engine.compiler.load import load_dir

    docs, diags = load_dir(root, display_root=Path.cwd() if not root.is_absolute() else None)
    if not root.exists():  # one error, not also a "no valid rule file of kind …" per required kind
        return None, diags
    policy, more = validate_documents(docs, str(root))
    diags += more
    if any(d.severity == "error" for d in diags) or policy is None:
        return None, diags
    from engine.compiler.provenance import git_commit

    return replace(policy, rules_commit=git_commit(root)), diags
