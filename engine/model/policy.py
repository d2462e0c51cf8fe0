"""The policy: typed, validated contents of the rule files (what :func:`engine.compiler.validate.validate` returns).

Plain frozen dataclasses; nothing here reads files or talks to the engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.model.vocabulary import SEVERITIES

RANK = {s: i for i, s in enumerate(SEVERITIES)}  # NONE=0 … CRITICAL=3


@dataclass(frozen=True)
class Origin:
    """Where a rule came from, for diagnostics and the audit log."""

    file: str
    pointer: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class SeverityRule:
    id: str
    severity: str
    when: Any  # conditions AST
    description: str
    origin: Origin


@dataclass(frozen=True)
class RemediationRule:
    id: str
    severity: str
    when: Any
    action: str
    params: dict[str, Any]
    description: str
    origin: Origin


@dataclass(frozen=True)
class Override:
    who: str
    covers: str
    start: str
    end: str
    reason: str = ""


@dataclass(frozen=True)
class Rotation:
    members: tuple[str, ...]
    handoff: str  # "mon 09:00"
    start: str = ""


@dataclass(frozen=True)
class Team:
    name: str
    primary: tuple[str, ...]
    backup: tuple[str, ...]
    escalation_delay: int
    slack: str = ""
    routing_key_env: str = ""
    backup_routing_key_env: str = ""  # PagerDuty service for steps after the first (reaches the backup)
    rotation: Rotation | None = None
    overrides: tuple[Override, ...] = ()


@dataclass(frozen=True)
class EscalationStep:
    """One step of a level's chain: who is paged (``primary``/``backup``/``notify`` or people), and
    ``delay`` seconds after the previous step (None: the owning team's ``escalation_delay``)."""

    targets: tuple[str, ...]
    delay: int | None = None


@dataclass(frozen=True)
class Level:
    severity: str
    level: str  # P0..P3
    notify: tuple[str, ...] = ()
    pagers: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    repeat: int = 0
    steps: tuple[EscalationStep, ...] = ()  # empty: primary (+ notify), then backup (engine.decide.escalation)
    retry_budget_minutes: float | None = None  # a failed page is retried for about this long (engine.run.fallback)
    fallback: tuple[str, ...] = ()  # tried in order when a page ends failed


@dataclass(frozen=True)
class Policy:
    severity_rules: tuple[SeverityRule, ...]
    default_severity: str
    teams: dict[str, Team]
    services: dict[str, str]
    fallback_team: str
    levels: dict[str, Level]
    action_config: dict[str, dict[str, Any]]
    remediation: tuple[RemediationRule, ...]
    templates: dict[str, dict[str, Any]]  # channel -> severity|default -> template mapping
    colors: dict[str, str]
    digest: str  # sha256 over the rule files' bytes: the "rules hash" in every audit row
    files: tuple[str, ...] = field(default=())
    suppression: Any = None  # engine.compiler.suppression.SuppressionPolicy, from the optional suppression file
    slack_users: dict[str, str] = field(default_factory=dict)  # person → Slack user id (matrix slack_users)
    rules_commit: str = ""  # the Git commit of the rule files at load time (engine.compiler.provenance)

    def used_actions(self) -> set[str]:
        used = {r.action for r in self.remediation}
        for level in self.levels.values():
            used |= set(level.pagers) | set(level.channels) | set(level.fallback)
        return used


DEFAULT_COLORS = {"CRITICAL": "#c92a2a", "MAJOR": "#e8590c", "MODERATE": "#fab005", "NONE": "#37b24d"}
