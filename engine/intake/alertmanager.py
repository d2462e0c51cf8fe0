"""Prometheus Alertmanager webhook (``"version": "4"``) → one :class:`~engine.model.event.Event` per alert.

==================  ===============================================================================
Event field         from
==================  ===============================================================================
``event_id``        ``alertmanager:<fingerprint>:<hash(groupKey, fingerprint, startsAt, annotations)>``:
                    a redelivery gets the same id (a duplicate), a re-send whose annotations
                    changed a new one (decided: it may upgrade the incident). Resolved alerts add
                    ``:resolved:<endsAt>``.
``timestamp``       ``startsAt`` (firing) or ``endsAt`` (resolved); the receive time if unusable
``status``          the alert's ``status`` (``resolved`` → resolved, anything else → firing)
``source``          ``alertmanager``
``service``         label ``service``, else ``job``, else ``alertname`` (slugged if it has spaces:
                    ``High CPU Temperature`` → ``high-cpu-temperature``)
``environment``     label ``env``, else ``environment``, else the default ``production``
``title``           annotation ``summary``, else ``alertname``
``description``     annotation ``description``
``fingerprint``     the alert's ``fingerprint``, else a hash of its labels
``runbook_url``     annotation ``runbook_url``
``metrics``         annotation ``value`` (a number), named by label ``metric`` (default ``value``);
                    a value that is not a number stays a label, ``annotation.value``
``conditions``      label or annotation ``condition``: comma-separated names, each set true
                    (e.g. ``condition: service_unavailable,partial_outage``)
``labels``          ``commonLabels`` + the alert's labels (as-is, e.g. ``severity``); other
                    annotations as ``annotation.<name>``; everything else in the payload as
                    ``alertmanager.<field>`` (e.g. ``alertmanager.generatorURL``)
==================  ===============================================================================

Labels win over ``commonLabels`` and the alert's annotations over ``commonAnnotations``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from engine.intake.errors import IntakeError
from engine.intake.normalize import (
    Fields,
    clip,
    digest,
    merge_labels,
    name,
    number,
    service_name,
    stable_id,
    string_labels,
    timestamp,
    to_event,
)
from engine.intake.quarantine import Quarantined, item_size, quarantined
from engine.model.event import Event

NAME = "alertmanager"
_MAPPED = ("summary", "description", "runbook_url", "value", "condition")
Extend = Callable[[Fields, dict[str, Any]], None]


def matches(doc: Any) -> bool:
    return (
        isinstance(doc, dict)
        and isinstance(doc.get("alerts"), list)
        and (doc.get("version") == "4" or "groupKey" in doc)
    )


def normalize(doc: dict[str, Any], *, now: datetime, max_item_bytes: int = 0) -> list[Event | Quarantined]:
    return normalize_group(doc, now=now, source=NAME, max_item_bytes=max_item_bytes)


def normalize_group(
    doc: dict[str, Any], *, now: datetime, source: str, extend: Extend | None = None, max_item_bytes: int = 0
) -> list[Event | Quarantined]:
    """Shared with Grafana, whose payload is this shape plus per-alert extras (``extend``).

    Each alert is validated on its own: a bad one (or one over ``max_item_bytes`` as compact JSON;
    0: no per-alert limit) becomes a :class:`Quarantined` in its place and the others go on."""
    group = Fields(doc, source)
    group.skip("alerts", "status", "version")
    group_key = group.text("groupKey") or ""
    common_labels = group.mapping("commonLabels")
    common_annotations = group.mapping("commonAnnotations")
    out: list[Event | Quarantined] = []
    truncated = number(doc.get("truncatedAlerts"))
    if truncated:
        out.append(Quarantined("/truncatedAlerts", "truncated-alerts", f"/truncatedAlerts: Alertmanager left "
                               f"{truncated:g} alerts of group {clip(group_key, 200)!r} out of this body (its "
                               "max_alerts): they never arrived", outcome="truncated"))
    shared = group.leftovers()
    for index, alert in enumerate(doc["alerts"]):
        where = f"/alerts/{index}"
        try:
            if not isinstance(alert, dict):
                raise IntakeError(f"schema: {where}: expected an object", "schema")
            if max_item_bytes and (size := item_size(alert)) > max_item_bytes:
                raise IntakeError(f"{where}: alert is {size} bytes; the limit per event is {max_item_bytes} "
                                  "(--max-event-bytes)", "too-large")
            f = Fields(alert, source)
            fields = alert_fields(f, group_key, common_labels, common_annotations, now=now, source=source)
            if extend:
                extend(f, fields)
            fields["labels"] = merge_labels(fields["labels"], f.leftovers(), shared)
            out.append(to_event(fields, where=where))
        except IntakeError as exc:
            out.append(quarantined(where, exc.code, exc.reason, alert))
    return out


def alert_fields(
    f: Fields,
    group_key: str,
    common_labels: dict[str, Any],
    common_annotations: dict[str, Any],
    *,
    now: datetime,
    source: str,
) -> dict[str, Any]:
    """The Event fields for one alert; ``labels`` still lacks the unread payload fields."""
    labels = {**common_labels, **f.mapping("labels")}
    annotations = {**common_annotations, **f.mapping("annotations")}
    label_text = _texts(labels)
    notes = _texts(annotations)
    resolved = f.text("status") == "resolved"
    starts_at, ends_at = f.text("startsAt"), f.text("endsAt")
    fingerprint = f.text("fingerprint") or "labels-" + digest(sorted(label_text.items()))
    # the annotations are part of the identity: a re-send whose annotations changed (a new ``value``) is a
    # new observation and is decided, while a redelivery of the same notification keeps its id (a duplicate)
    event_id = stable_id(source, fingerprint, group_key, fingerprint, starts_at, sorted(notes.items()))
    if resolved:
        event_id += ":resolved:" + name(ends_at or "", "unknown")[:40]
    metrics = {}
    kept = set(_MAPPED)
    if (value := number(annotations.get("value"))) is not None:
        metrics[name(label_text.get("metric", "value"), "value")] = value
    else:  # "95%", "34.75C": not a metric, but not dropped either
        kept.discard("value")
    wanted = label_text.get("condition", "") + "," + notes.get("condition", "")
    service = label_text.get("service") or label_text.get("job") or label_text.get("alertname") or source
    return {
        "event_id": event_id,
        "timestamp": timestamp(ends_at if resolved else starts_at) or timestamp(starts_at) or now,
        "status": "resolved" if resolved else "firing",
        "source": source,
        "service": service_name(service),
        "environment": (label_text.get("env") or label_text.get("environment") or "production")[:100],
        "title": clip(notes.get("summary") or label_text.get("alertname") or "", 1000),
        "description": clip(notes.get("description", ""), 10000),
        "fingerprint": clip(fingerprint, 200),
        "runbook_url": clip(notes["runbook_url"], 2000) if notes.get("runbook_url") else None,
        "metrics": metrics,
        "conditions": {name(c.strip()): True for c in wanted.split(",") if c.strip()},
        "labels": merge_labels(
            string_labels(labels.items()),
            string_labels((f"annotation.{k}", v) for k, v in annotations.items() if k not in kept),
        ),
    }


def _texts(values: dict[str, Any]) -> dict[str, str]:
    return {
        str(k): str(v)
        for k, v in values.items()
        if isinstance(v, str | int | float) and not isinstance(v, bool)
    }
