"""Opsgenie Webhook integration ``Acknowledge`` / ``Close`` → one
:class:`~engine.model.event.Acknowledgement`, so a responder acting in Opsgenie stops our escalation.

Opsgenie posts its "alert action data" (one JSON object per action) to the URL of a Webhook
integration; point it at ``POST /v1/events`` with the custom header ``Authorization: Bearer
$INTAKE_TOKEN`` and map the actions "alert is acknowledged" and "alert is closed".

===============  ================================================================================
Acknowledgement  from the body (``alert`` is a subset of the alert's fields)
===============  ================================================================================
``type``         ``action: Acknowledge`` → ``ack``; ``Close`` → ``resolve``
``event_id``     ``opsgenie:<alert.alertId>:<action>:<alert.updatedAt>``. Opsgenie sends no delivery
                 id; ``updatedAt`` (nanoseconds) is the alert's version, the same on a redelivery
``incident_id``  ``alert.alias``: the alias our opsgenie action sent (``<incident>`` or
                 ``<incident>.step-<n>``); alerts opened in Opsgenie itself carry their own alias,
                 which matches nothing here and is refused, counted and logged
``refs``         ``alert.alertId`` and ``alert.tinyId`` after the alias
``by``           ``alert.username`` (the user's login), else ``alert.userId``, else ``opsgenie``
``timestamp``    ``alert.updatedAt`` (ns since the epoch), else ``createdAt`` (ms), else now
``source``       ``opsgenie`` (the adapter's name, so the ack is not sent back to Opsgenie)
``note``         ``Opsgenie alert #<tinyId> <alertId>: <message> (via <source.type>)``
===============  ================================================================================

Every other action (``Create``, ``UnAcknowledge``, ``AddNote``, ``Escalate``, …) raises
``IntakeError(code="ignored-webhook")``: nothing of ours changes when they happen.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from engine.intake.errors import IntakeError
from engine.intake.normalize import clip, digest, name, to_acknowledgement
from engine.model.event import Acknowledgement

NAME = "opsgenie-webhook"
_TYPES = {"acknowledge": "ack", "close": "resolve"}


def matches(doc: Any) -> bool:
    return (
        isinstance(doc, dict)
        and isinstance(doc.get("action"), str)
        and isinstance(doc.get("alert"), dict)
        and ("integrationId" in doc or "integrationName" in doc)
    )


def normalize(doc: dict[str, Any], *, now: datetime) -> list[Acknowledgement]:
    action = doc["action"]
    if action.lower() not in _TYPES:
        raise IntakeError(
            f"Opsgenie webhook action {clip(action, 80)} is not an acknowledgement; only "
            "Acknowledge and Close are read",
            "ignored-webhook",
        )
    alert = doc["alert"]
    alias, alert_id, tiny = _text(alert.get("alias")), _text(alert.get("alertId")), _text(alert.get("tinyId"))
    incident = alias or alert_id
    if not incident:
        raise IntakeError("schema: /alert/alias: Opsgenie alert has no alias or alertId", "schema")
    source = doc.get("source")
    source = source if isinstance(source, dict) else {}
    via = _text(source.get("type")) or _text(source.get("name"))
    note = " ".join(
        part
        for part in (
            f"Opsgenie alert #{tiny}" if tiny else "Opsgenie alert",
            f"{alert_id}:" if alert_id else "",
            _text(alert.get("message")),
            f"(via {via})" if via else "",
        )
        if part
    )
    version = _text(alert.get("updatedAt"))
    key = name(f"{alert_id}:{action.lower()}:{version}", "")[:150] if alert_id and version else digest(doc)
    fields = {
        "type": _TYPES[action.lower()],
        "event_id": f"opsgenie:{key}",
        "incident_id": clip(incident, 255),
        "by": clip(_text(alert.get("username")) or _text(alert.get("userId")) or "opsgenie", 200),
        "timestamp": _when(alert.get("updatedAt"), 1e9) or _when(alert.get("createdAt"), 1e3) or now,
        "source": "opsgenie",
        "note": clip(note, 4000),
        "refs": [clip(ref, 512) for ref in dict.fromkeys((alert_id, tiny)) if ref and ref != incident],
    }
    return [to_acknowledgement(fields, where="/alert")]


def _when(value: Any, per_second: float) -> datetime | None:
    """Epoch ``value`` in units of ``1/per_second`` s; None when absent or out of range."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    try:
        return datetime.fromtimestamp(value / per_second, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _text(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return ""
    return str(value).strip()
