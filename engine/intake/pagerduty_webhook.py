"""PagerDuty webhook v3 ``incident.acknowledged`` / ``incident.resolved`` → one
:class:`~engine.model.event.Acknowledgement`, so a human acting in PagerDuty stops our escalation.

===============  ================================================================================
Acknowledgement  from ``event`` (and ``event.data``, the incident)
===============  ================================================================================
``type``         ``incident.acknowledged`` → ``ack``; ``incident.resolved`` → ``resolve``
``event_id``     ``pagerduty:<event.id>`` (PagerDuty keeps the id on redelivery)
``incident_id``  ``data.incident_key`` when present, else the PagerDuty incident id ``data.id``.
                 ``incident_key`` is the Events API v2 ``dedup_key`` that our pagerduty action
                 sent (``<incident>`` or ``<incident>.step-<n>``); incidents opened in PagerDuty's
                 UI carry none (the real acknowledged/resolved deliveries in the fixtures)
``refs``         ``data.id`` (PagerDuty's incident id) after the incident key: the engine maps
                 either back to our incident (:func:`engine.run.acknowledge.match`) and refuses,
                 counts and logs an ack that matches nothing
``by``           ``agent.summary`` (the user's name), else ``agent.email``, else ``agent.id``,
                 else ``pagerduty`` (e.g. auto-resolution without an agent)
``timestamp``    ``occurred_at``
``source``       ``pagerduty``
``note``         ``PagerDuty incident #<number> <id>: <title> (<service>) <html_url>``
===============  ================================================================================

``Acknowledgement`` has no ``labels``: the note above is all that is kept of the payload (the rest
is in PagerDuty, one click from ``html_url``).

Every other event type (``incident.triggered``, ``incident.priority_updated``, …) raises
``IntakeError(code="ignored-webhook")``: PagerDuty learned about those from us.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from engine.intake.errors import IntakeError
from engine.intake.normalize import clip, digest, name, timestamp, to_acknowledgement
from engine.model.event import Acknowledgement

NAME = "pagerduty-webhook"
_TYPES = {"incident.acknowledged": "ack", "incident.resolved": "resolve"}


def matches(doc: Any) -> bool:
    event = doc.get("event") if isinstance(doc, dict) else None
    return isinstance(event, dict) and isinstance(event.get("event_type"), str) and "resource_type" in event


def normalize(doc: dict[str, Any], *, now: datetime) -> list[Acknowledgement]:
    event = doc["event"]
    kind = event["event_type"]
    if kind not in _TYPES:
        raise IntakeError(
            f"PagerDuty webhook {clip(kind, 80)} is not an acknowledgement; only "
            "incident.acknowledged and incident.resolved are read",
            "ignored-webhook",
        )
    data = _obj(event.get("data"))
    agent = _obj(event.get("agent"))
    service = _obj(data.get("service"))
    incident = _text(data.get("incident_key")) or _text(data.get("id"))
    if not incident:
        raise IntakeError("schema: /event/data/id: PagerDuty incident has no id or incident_key", "schema")
    number = _text(data.get("number"))
    note = " ".join(
        part
        for part in (
            f"PagerDuty incident #{number}" if number else "PagerDuty incident",
            f"{_text(data.get('id'))}:",
            _text(data.get("title")),
            f"({_text(service.get('summary'))})" if service.get("summary") else "",
            _text(data.get("html_url")),
        )
        if part
    )
    event_id = name(_text(event.get("id")), "")[:150] or digest(doc)
    fields = {
        "type": _TYPES[kind],
        "event_id": f"pagerduty:{event_id}",
        "incident_id": clip(incident, 255),
        "by": clip(
            _text(agent.get("summary")) or _text(agent.get("email")) or _text(agent.get("id")) or "pagerduty",
            200,
        ),
        "timestamp": timestamp(event.get("occurred_at")) or now,
        "source": "pagerduty",
        "note": clip(note, 4000),
        "refs": [clip(ref, 512) for ref in (_text(data.get("id")),) if ref and ref != incident],
    }
    return [to_acknowledgement(fields, where="/event")]


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return ""
    return str(value).strip()
