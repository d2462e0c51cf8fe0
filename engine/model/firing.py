"""What the engine reports back: the compiled rule that fired (:class:`RuleMeta`) and one firing of it.

Plain data: the audit log, the pipeline and decide read firings without loading durable-rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson


@dataclass(frozen=True)
class RuleMeta:
    """What the engine needs to know about a durable rule when it fires."""

    name: str  # durable rule name, e.g. "severity:service-unavailable"
    stage: str  # severity | route | remediate | notify
    rule_id: str  # the policy's id (or "default", "CRITICAL"...)
    severity: str = ""
    action: str = ""
    channel: str = ""
    condition: Any = None  # AST, for explanations
    params: dict[str, Any] = field(default_factory=dict)
    origin: str = ""



@dataclass
class Firing:
    """One rule firing: which rule, in which stage, and the facts bound to it."""

    meta: RuleMeta
    message: str  # durable-rules' activation, as JSON: {rule name: {alias: fact}}
    seq: int
    selected: bool = False  # decided the stage (first severity / first remediation)
    asserted: dict[str, Any] | None = None  # the selected severity rule: the severity fact's fields it asserted

    @property
    def bindings(self) -> dict[str, dict[str, Any]]:
        """``{alias: fact}`` as durable-rules bound them (decoded on demand: the audit log does not need it)."""
        return dict(next(iter(orjson.loads(self.message).values())))


def selected(firings: list[Firing], stage: str) -> Firing | None:
    """The firing that decided ``stage`` (the first severity rule, the first remediation), if any."""
    return next((f for f in firings if f.selected and f.meta.stage == stage), None)
