"""On-call resolver: service → owning team → who is on call at a given time.

A service with no owner goes to the policy's ``fallback_team`` and the owner is flagged
``fallback=True`` (recorded in the audit log) — never dropped.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from engine.policy import Policy


@dataclass(frozen=True)
class Owner:
    team: str
    primary: tuple[str, ...]
    backup: tuple[str, ...]
    escalation_delay: int
    fallback: bool = False
    slack: str = ""

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["primary"], d["backup"] = list(self.primary), list(self.backup)
        return d


def resolve(policy: Policy, service: str, at: datetime | None = None) -> Owner:
    """Who owns ``service`` at ``at`` (rotations and overrides are applied by the team's schedule)."""
    name = policy.services.get(service)
    fallback = name is None or name not in policy.teams
    team = policy.teams[policy.fallback_team if fallback else name]
    return Owner(team.name, team.primary, team.backup, team.escalation_delay, fallback, team.slack)
