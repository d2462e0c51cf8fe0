"""Datadog monitor webhook → one :class:`~engine.model.event.Event`.

Datadog lets each user write the body as a template of ``$VARIABLES``, so there is no fixed
schema. This module reads the key names of the default template, the vendor-recommended ones
(e.g. DataDog/integrations-extras ilert) and the legacy rendered payloads: each ``$VARIABLE``
lower-cased as its key (``$ALERT_TRANSITION`` → ``alert_transition``). Rename keys in your
template to these to have them mapped; any other key is kept as a ``datadog.<key>`` label.

==================  ==========================================================================
Event field         from
==================  ==========================================================================
``event_id``        ``datadog:<id>`` (``$ID``), else ``event_id``, else a hash of the payload;
                    a redelivery gets the same id
``timestamp``       ``date``, else ``last_updated`` (epoch milliseconds or RFC 3339)
``status``          ``alert_transition`` containing "recovered" → resolved; any other transition
                    (``Triggered``, ``Re-Triggered``, ``Warn``, ``No Data``…) → firing. Without a
                    transition, ``alert_type: success`` → resolved; without either (Datadog's
                    default template), the transition in the title (``[Recovered on {…}] …``).
                    Only ``Triggered`` and ``Recovered`` are verified against real payloads.
``source``          ``datadog``
``service``         tag ``service:<name>`` (from ``tags``, ``event_tags`` or ``alert_scope``),
                    else a ``service`` key, else the monitor name from the title, slugged
                    (``[Triggered on {host:a}] Dock is almost out of memory...`` →
                    ``dock-is-almost-out-of-memory``)
``environment``     tag ``env:<name>``, else ``production``
``title``           ``title`` (``$EVENT_TITLE``), else ``alert_title``
``description``     ``body`` (``$EVENT_MSG``) without Datadog's ``%%%`` markdown fences
``fingerprint``     ``alert_cycle_key`` (links a trigger to its recovery), else
                    ``datadog:<alert_id>:<scope>``, else ``datadog:<hash(monitor name, scope)>``
                    where the scope is ``{host:a}`` in the title (after a ``[P1]`` priority
                    prefix, if any), else ``alert_scope``; triggered and recovered payloads
                    of one monitor group share it
``labels``          every tag as ``<key>`` (repeated keys joined with ``,``; bare tags as ``""``),
                    ``severity`` from ``alert_priority``/``priority`` (P1 critical, P2 error,
                    P3 warning, P4/P5 info) else from ``alert_type`` (error, warning, info),
                    other keys as ``datadog.<key>`` (keys such as ``secret`` → ``<redacted>``),
                    ``alert_type`` and the priority too (a value may map to nothing)
==================  ==========================================================================

A template that was pasted instead of delivered (values still ``$ALERT_TRANSITION``…) is
rejected with ``unrendered-template``.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from engine.intake.errors import IntakeError
from engine.intake.normalize import (
    Fields,
    clip,
    digest,
    merge_labels,
    name,
    service_name,
    string_labels,
    timestamp,
    to_event,
)
from engine.model.event import Event

NAME = "datadog"
# "[P1] " (the monitor's priority) may come first: it is not the transition, and the monitor name
# must not keep "[Triggered on {…}]", or a recovery would not match its trigger.
_TITLE = re.compile(
    r"^(?:\[P[0-9]\]\s*)?\[(?P<transition>[^\]{]*?)(?: on (?P<scope>\{[^}]*\}))?\]\s*(?P<monitor>.*)$", re.S
)
_VARIABLE = re.compile(r"^\$[A-Z][A-Z0-9_]*$")
_PRIORITY = {"p1": "critical", "p2": "error", "p3": "warning", "p4": "info", "p5": "info"}
_ALERT_TYPE = {"error": "error", "warning": "warning", "info": "info"}


def matches(doc: Any) -> bool:
    return isinstance(doc, dict) and (
        "alert_transition" in doc or ("event_type" in doc and ("body" in doc or "last_updated" in doc))
    )


def normalize(doc: dict[str, Any], *, now: datetime) -> list[Event]:
    _reject_template(doc)
    f = Fields(doc, NAME)
    transition = f.text("alert_transition") or ""
    alert_type = (f.text("alert_type") or "").lower()
    title = f.text("title") or f.text("alert_title") or ""
    tags = _tags(f.text("tags") or f.text("event_tags") or "", f.text("alert_scope") or "")
    parts = _TITLE.match(title)
    monitor = parts.group("monitor") if parts else title
    scope = (parts.group("scope") if parts else None) or f.text("alert_scope") or ""
    if transition:
        resolved = "recover" in transition.lower()
    elif alert_type:
        resolved = alert_type == "success"
    else:  # the default template has neither: "[Recovered on {host:a}] …" in $EVENT_TITLE says it
        resolved = "recover" in (parts.group("transition") if parts else "").lower()
    priority = (f.text("alert_priority") or f.text("priority") or "").lower()
    severity = _PRIORITY.get(priority) or _ALERT_TYPE.get(alert_type)
    f.used -= {"alert_type", "alert_priority", "priority"}  # also kept as read: a value may map to nothing
    alert_id = f.text("alert_id")
    fingerprint = f.text("alert_cycle_key") or (
        f"datadog:{alert_id}:{scope}" if alert_id else f"datadog:{digest(monitor, scope)}"
    )
    delivery = name(f.text("id") or f.text("event_id") or "", "")[:150]
    fields = {
        "event_id": "datadog:" + (delivery or digest(doc)),
        "timestamp": timestamp(f.text("date")) or timestamp(f.text("last_updated")) or now,
        "status": "resolved" if resolved else "firing",
        "source": NAME,
        "service": service_name(tags.get("service") or f.text("service") or monitor or NAME),
        "environment": clip(tags.get("env") or "production", 100),
        "title": clip(title, 1000),
        "description": clip(_strip_fences(f.text("body") or f.text("event_msg") or ""), 10000),
        "fingerprint": clip(fingerprint, 200),
        "labels": merge_labels(
            string_labels(tags.items(), keep_empty=True),
            {"severity": severity} if severity else {},
            f.leftovers(),
        ),
    }
    return [to_event(fields)]


def _reject_template(doc: dict[str, Any]) -> None:
    found = sorted({v for v in doc.values() if isinstance(v, str) and _VARIABLE.match(v)})
    if found:
        raise IntakeError(
            f"Datadog webhook template with unexpanded variables ({', '.join(found[:4])}); "
            "send a delivered webhook body, not the template",
            "unrendered-template",
        )


def _tags(*lists: str) -> dict[str, str]:
    """``"a:1,b,a:2"`` → ``{"a": "1,2", "b": ""}``."""
    out: dict[str, str] = {}
    for tag in (t.strip() for text in lists for t in text.split(",")):
        if not tag:
            continue
        key, _, value = tag.partition(":")
        if key in out and value and value not in out[key].split(","):
            out[key] = f"{out[key]},{value}" if out[key] else value
        else:
            out.setdefault(key, value)
    return out


def _strip_fences(body: str) -> str:
    return body.strip().removeprefix("%%%").removesuffix("%%%").strip()
