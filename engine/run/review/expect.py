"""Compare what a case (or an event's ``expect`` block) wants with what the engine decided.

One comparison for ``rules test`` and ``rules simulate --check``. Every key is optional; a key
that is given is compared, one difference per line, ``key: want X, have Y``:

``severity``     the decided severity                 ``rule``        the deciding severity rule id
``fired_rules``  every rule that fired, in order      ``owner``       the owning team
``level``        P0–P3                                ``actions``     remediation actions (``[]``: none)
``remediation``  subset of ``{action, rule, params}`` ``channels``    notification channels (any order)
``suppressed``   the suppression mechanism or none    ``incident_id`` the incident (``""`` when suppressed)
``messages``     ``{channel: {field: value}}``: rendered message fields (a subset, nested)
``timeline``     the escalation timeline on the virtual clock (see :func:`engine.run.replay.compare`)
"""

from __future__ import annotations

from typing import Any

from engine.decide import Decision
from engine.run import replay as timeline

UNORDERED = ("actions", "channels")


def observed(decision: Decision) -> dict[str, Any]:
    """The comparable facts of a decision (what ``expect`` keys address)."""
    chosen = next((f for f in decision.firings if f.meta.stage == "severity" and f.selected), None)
    return {
        "severity": decision.severity,
        "rule": chosen.meta.rule_id if chosen else "default",
        "fired_rules": decision.fired_rules,
        "owner": decision.owner.team,
        "level": decision.escalation.get("level"),
        "actions": [decision.remediation["action"]] if decision.remediation else [],
        "remediation": decision.remediation,
        "channels": [n["channel"] for n in decision.notifications],
        "suppressed": (decision.suppression or {}).get("mechanism") or "none",
        "incident_id": decision.incident_id,
        "messages": {n["channel"]: n["message"] for n in decision.notifications},
    }


def compare(expect: dict[str, Any], decision: Decision, played: list[dict[str, Any]] | None = None) -> list[str]:
    """Differences between an expectation and a decision (and its played timeline), one line each."""
    have = observed(decision)
    out: list[str] = []
    for key, want in expect.items():
        if want is None or key in ("script",):
            continue
        if key == "timeline":
            out += timeline.compare(want, played or [])
            continue
        if key not in have:
            continue
        got = have[key]
        if key in UNORDERED:
            if sorted(want) != sorted(got):
                out.append(f"{key}: want {sorted(want)}, have {sorted(got)}")
        elif key in ("remediation", "messages"):
            out += [f"{key}{path}: want {w!r}, have {h!r}" for path, w, h in subset_diff(want, got)]
        elif want != got:
            out.append(f"{key}: want {want!r}, have {got!r}")
    return out


_ABSENT = "<absent>"


def subset_diff(want: Any, have: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """``(path, want, have)`` for every part of ``want`` that ``have`` lacks or differs in (mappings nest)."""
    if isinstance(want, dict):
        if not isinstance(have, dict):
            return [(path, want, _ABSENT if have is None else have)]
        out = []
        for k, w in want.items():
            out += subset_diff(w, have.get(k, _ABSENT), f"{path}.{k}")
        return out
    return [] if want == have else [(path, want, have)]
