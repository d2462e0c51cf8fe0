"""The build stage: schema-valid documents → the typed :class:`~engine.model.policy.Policy`.

Conditions are parsed here (a bad one is a Diagnostic, the rule is kept with ``when=None``); the rules
hash is computed from each file's name within the rules directory and its bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from engine.compiler import conditions
from engine.compiler.load import Document
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


def build_policy(by_kind: Mapping[str, list[Document]], diags: list[Diagnostic]) -> Policy:
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
