"""Incidents and per-fingerprint trackers as the suppression stage keeps them in memory.

Plain dataclasses that round-trip through JSON (the ``incidents`` table stores an incident
whole but for its fingerprints, or only the fields a repeat or an attach changed;
``incident_members`` one row per fingerprint joining or leaving; ``suppress_state`` stores trackers
whole), plus the helpers that derive an event's fingerprint, group key
and matchable document, and :func:`resolve_intents` — the pager requests that close an
incident, shared with anything else that closes one (an operator's resolve, for example).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from actions.base import Intent
from engine.compiler.matchers import lookup
from engine.model.event import Event


@dataclass
class Incident:
    incident_id: str
    service: str
    severity: str
    doc: dict[str, Any]  # what matchers see: service, severity, environment, source, title, labels, ...
    opened_at: float
    last_at: float
    fingerprints: list[str] = field(default_factory=list)
    group_key: str = ""
    hold_until: float = 0.0  # first notification due (group_wait / fusion hold)
    notified_at: float = 0.0  # when the latest notification was (or will be) due
    update_due: float = 0.0  # a scheduled group update not sent yet
    updates: int = 0
    repeats: int = 0
    members: int = 1
    fused: str = ""  # fusion id once fused
    status: str = "open"

    def state(self) -> dict[str, Any]:
        """A shallow dict for JSON (dataclasses.asdict deep-copies: too slow on the per-event path), without
        ``fingerprints``: membership is stored once per change (``incident_members``), not in every row,
        so a group's rows grow linearly with its members rather than quadratically."""
        out = shallow(self)
        del out["fingerprints"]
        return out

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Incident:
        return cls(**{k: v for k, v in state.items() if k in cls.__dataclass_fields__})


@dataclass
class Tracker:
    """Per fingerprint: last status and its changes (flap), and the persistence streak."""

    last_status: str = ""
    changes: list[float] = field(default_factory=list)
    hold_until: float = 0.0
    streak_since: float = 0.0
    streak: int = 0
    streak_last: float = 0.0  # the streak's latest event: a gap longer than the dedup window breaks it

    def state(self) -> dict[str, Any]:
        return shallow(self)

    def snapshot(self) -> tuple[Any, ...]:
        """Everything that is persisted, comparable: the stage writes a row only when this changes."""
        return self.last_status, tuple(self.changes), self.hold_until, self.streak_since, self.streak, self.streak_last


def shallow(obj: Any) -> dict[str, Any]:
    """The dataclass's fields as a dict, not copied (``dataclasses.asdict`` deep-copies)."""
    cls: type = type(obj)
    return {name: getattr(obj, name) for name in _field_names(cls)}


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


def matchable(event: Event, severity: str, fingerprint: str) -> dict[str, Any]:
    return {"event_id": event.event_id, "service": event.service, "severity": severity,
            "environment": event.environment, "source": event.source, "title": event.title,
            "status": event.status, "fingerprint": fingerprint, "labels": dict(event.labels)}


def fingerprint(event: Event, fields: tuple[str, ...]) -> str:
    """The dedup key: configured fields, else the event's ``fingerprint``, else service + title."""
    if fields:
        doc = matchable(event, "", event.fingerprint or "")
        text = "|".join(f"{f}={lookup(doc, f)}" for f in fields)
    elif event.fingerprint:
        return event.fingerprint
    else:
        text = f"service={event.service}|title={event.title}"
    return text if len(text) <= 120 else hashlib.sha256(text.encode()).hexdigest()[:32]


def group_key(doc: dict[str, Any], group_by: Iterable[str]) -> str:
    return "|".join(f"{f}={lookup(doc, f)}" for f in group_by)


@functools.lru_cache(maxsize=256)  # an event's time is formatted for several rows
def iso(seconds: float) -> str:
    """Event-clock seconds → the audit log's time format (comparable as text with ``due_at``)."""
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def resolve_intents(incident: Incident, paged: Iterable[tuple[str, str, str, int, str]], event_id: str,
                    reason: str) -> list[Intent]:
    """``kind="resolve"`` for every pager that was paged for the incident, and for every step's alert
    where each step is its own alert (PagerDuty, Opsgenie: same step, same routing key)."""
    title = incident.doc.get("title") or incident.service
    text = f"RESOLVED {incident.severity} incident {incident.incident_id} on {incident.service}: {title} ({reason})"
    message = {"text": text, "summary": text, "subject": text, "message": text[:130]}
    return [Intent(action=action, kind="resolve", incident_id=incident.incident_id, event_id=event_id,
                   severity=incident.severity, service=incident.service, environment=env, level=level,
                   message=message, rule_id="suppression:resolve", step=step,
                   params={"routing_key_env": key_env} if key_env else {})
            for action, env, level, step, key_env in paged]
