"""On-call resolver: service → owning team → who is on call at a given time.

Takes the :class:`~engine.model.policy.Policy`, a service name and the event time; returns an
:class:`Owner` with the primary and backup lists in force at that time:

* **Rotation** (optional, weekly): ``members[0]`` is on call from ``start`` until the first
  hand-off (``"mon 09:00"``, UTC) after it, then the next member, in order, cycling. While the
  rotation runs its member *replaces* the team's ``primary`` list; before ``start`` the list
  applies. Without ``start`` the rotation counts weeks from the hand-off in the week of
  1970-01-05 (a Monday), so the result never depends on when the process started.
* **Overrides** (one-off): ``who`` replaces ``covers`` in the primary and backup lists for
  ``start <= at < end``.

A service with no owner goes to the policy's ``fallback_team`` and the owner is flagged
``fallback=True`` (recorded in the audit log) — never dropped. ``notes`` says which rotation
member and which overrides applied, for the audit log and ``rules simulate``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from engine.model.policy import Policy, Rotation, Team

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEK = timedelta(days=7)
EPOCH_MONDAY = datetime(1970, 1, 5, tzinfo=UTC)
HANDOFF = re.compile(r"^(mon|tue|wed|thu|fri|sat|sun) ([01][0-9]|2[0-3]):([0-5][0-9])$")


@dataclass(frozen=True)
class Owner:
    team: str
    primary: tuple[str, ...]
    backup: tuple[str, ...]
    escalation_delay: int
    fallback: bool = False
    slack: str = ""
    notes: tuple[str, ...] = ()
    routing_key_envs: tuple[str, str] = ("", "")  # PagerDuty: (step 0, later steps); "" = the action's default

    def as_dict(self) -> dict[str, Any]:
        return {"team": self.team, "primary": list(self.primary), "backup": list(self.backup),
                "escalation_delay": self.escalation_delay, "fallback": self.fallback, "slack": self.slack,
                "notes": list(self.notes), "routing_key_envs": list(self.routing_key_envs)}


def parse_time(text: str) -> datetime:
    """RFC 3339 (``Z`` or an offset; no offset means UTC) or a bare date (midnight UTC).

    Raises ValueError for anything else.
    """
    value = datetime.fromisoformat(text.strip())
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def handoff_offset(handoff: str) -> timedelta:
    """``"mon 09:00"`` → time since Monday 00:00 UTC. Raises ValueError when malformed."""
    m = HANDOFF.match(handoff)
    if not m:
        raise ValueError(f"hand-off {handoff!r} is not '<mon..sun> HH:MM'")
    return timedelta(days=WEEKDAYS.index(m[1]), hours=int(m[2]), minutes=int(m[3]))


def rotation_start(rotation: Rotation) -> datetime:
    return parse_time(rotation.start) if rotation.start else EPOCH_MONDAY + handoff_offset(rotation.handoff)


def first_handoff_after(rotation: Rotation, start: datetime) -> datetime:
    """The first hand-off instant strictly after ``start``."""
    start = start.astimezone(UTC)
    monday = (start - timedelta(days=start.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    h = monday + handoff_offset(rotation.handoff)
    return h + WEEK if h <= start else h


def on_call(rotation: Rotation, at: datetime) -> str | None:
    """The rotation member on call at ``at``; None before the rotation starts."""
    start = rotation_start(rotation)
    if at < start:
        return None
    first = first_handoff_after(rotation, start)
    shifts = 0 if at < first else 1 + (at - first) // WEEK
    return rotation.members[shifts % len(rotation.members)]


def _apply_overrides(team: Team, people: tuple[str, ...], at: datetime, notes: list[str]) -> tuple[str, ...]:
    out: list[str] = []
    for person in people:
        for o in team.overrides:
            if o.covers == person and parse_time(o.start) <= at < parse_time(o.end):
                notes.append(f"{o.who} covers {o.covers} until {o.end}" + (f" ({o.reason})" if o.reason else ""))
                person = o.who
                break
        if person not in out:
            out.append(person)
    return tuple(out)


def resolve(policy: Policy, service: str, at: datetime | None = None) -> Owner:
    """Who owns ``service`` and is on call at ``at`` (default: now)."""
    at = at or datetime.now(UTC)
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    name = policy.services.get(service)
    fallback = name is None or name not in policy.teams
    team = policy.teams[policy.fallback_team if name is None or fallback else name]
    notes: list[str] = []
    primary = team.primary
    if team.rotation is not None:
        member = on_call(team.rotation, at)
        if member is not None:
            primary = (member,)
            notes.append(f"rotation: {member} on call (hand-off {team.rotation.handoff} UTC)")
    primary = _apply_overrides(team, primary, at, notes)
    backup = _apply_overrides(team, team.backup, at, notes)
    if fallback:
        notes.insert(0, f"service {service!r} has no owner: fallback team {team.name!r}")
    keys = (team.routing_key_env, team.backup_routing_key_env or team.routing_key_env)
    return Owner(team.name, primary, backup, team.escalation_delay, fallback, team.slack, tuple(notes), keys)


def span(policy: Policy, service: str, at: datetime) -> tuple[datetime | None, datetime | None]:
    """``[lo, hi)`` around ``at`` in which :func:`resolve` gives the same owner (None: unbounded).

    The owner changes only at the team's rotation hand-offs (and its start) and at the start or
    end of one of its overrides; the span ends at the nearest of those on either side.
    """
    name = policy.services.get(service)
    team = policy.teams[policy.fallback_team if name is None or name not in policy.teams else name]
    lo: datetime | None = None
    hi: datetime | None = None
    bounds: list[datetime] = []
    if team.rotation is not None:
        start = rotation_start(team.rotation)
        first = first_handoff_after(team.rotation, start)
        bounds += [start, first]
        if at >= first:
            shift = first + (at - first) // WEEK * WEEK
            bounds += [shift, shift + WEEK]
    for o in team.overrides:
        bounds += [parse_time(o.start), parse_time(o.end)]
    for b in bounds:
        if b <= at and (lo is None or b > lo):
            lo = b
        elif b > at and (hi is None or b < hi):
            hi = b
    return lo, hi


class OwnerCache:
    """:func:`resolve` per service, reused while the event time stays inside its :func:`span`.

    Events arrive roughly in time order, so the owner of a service is resolved again only when a
    hand-off or an override starts or ends between two of its events. Owners are immutable.
    """

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self._held: dict[str, tuple[Owner, datetime | None, datetime | None]] = {}

    def resolve(self, service: str, at: datetime) -> Owner:
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        held = self._held.get(service)
        if held is not None:
            owner, lo, hi = held
            if (lo is None or lo <= at) and (hi is None or at < hi):
                return owner
        owner = resolve(self.policy, service, at)
        if len(self._held) >= MAX_HELD_SERVICES:
            self._held.clear()
        self._held[service] = (owner, *span(self.policy, service, at))
        return owner


MAX_HELD_SERVICES = 10_000  # distinct services remembered; past that the cache starts again
