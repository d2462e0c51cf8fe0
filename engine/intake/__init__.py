"""Intake: bytes in, canonical events out. ``parse(data)`` → ``list[Event | Acknowledgement | Quarantined]``.

The stages, in order (each raises :class:`IntakeError` with a stable ``code``):

1. :func:`engine.intake.safejson.load` — size, UTF-8, depth, JSON syntax, finite numbers;
2. :func:`detect` — the first format in :data:`FORMATS` whose ``matches(doc)`` is true;
3. that module's ``normalize(doc, now=...)`` — vendor fields → ``Event`` fields, validated by
   ``Event.model_validate`` (fields that have no Event slot become ``labels``).

Formats (one module each, all with ``NAME``, ``matches(doc)`` and ``normalize(doc, *, now)``):
``cloudwatch-sns``, ``pagerduty-webhook``, ``opsgenie-webhook``, ``grafana``, ``alertmanager``, ``datadog``,
``canonical``. The order matters: Grafana before Alertmanager (Grafana's payload *is* an
Alertmanager group plus extras), and every vendor format before ``canonical`` (a legacy Datadog
payload has an ``event_id`` key too).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from engine.intake import (
    alertmanager,
    canonical,
    cloudwatch_sns,
    datadog,
    grafana,
    opsgenie_webhook,
    pagerduty_webhook,
    safejson,
)
from engine.intake.errors import CODES, IntakeError
from engine.intake.normalize import MAX_ERRORS
from engine.intake.quarantine import Quarantined
from engine.model.event import Acknowledgement, Event

__all__ = ["CODES", "FORMATS", "IntakeError", "Quarantined", "detect", "parse"]

FORMATS = (cloudwatch_sns, pagerduty_webhook, opsgenie_webhook, grafana, alertmanager, datadog, canonical)
_MULTI = (grafana, alertmanager, canonical)  # bodies of many items: each item validated on its own


def parse(
    data: bytes, *, name: str = "", max_bytes: int = 1_048_576, now: datetime | None = None,
    max_item_bytes: int = 0, quarantine: bool = False,
) -> list[Event | Acknowledgement | Quarantined]:
    """Normalize one request body or file. ``name`` (a path or request id) prefixes ``str(error)``;
    ``now`` is the timestamp for payloads that carry none (default: the current UTC time).

    ``max_bytes`` limits the whole body, ``max_item_bytes`` (0: no limit of its own) each item of a
    multi-item body (an alert of a group, an event of a list) as compact JSON. ``quarantine``: a bad
    item becomes a :class:`Quarantined` in the list and the body's other items go on (the pipeline's
    mode); without it one bad item rejects the body. Notices (``truncated``) are returned in both."""
    try:
        doc = safejson.load(data, max_bytes=max_bytes)
        module = _module(doc)
        when = now or datetime.now(UTC)
        if module not in _MULTI:
            return list(module.normalize(doc, now=when))
        # an item can only be over the per-item limit when the whole body is
        per_item = max_item_bytes if max_item_bytes and len(data) > max_item_bytes else 0
        extra = {"quarantine": quarantine} if module is canonical else {}
        items = list(module.normalize(doc, now=when, max_item_bytes=per_item, **extra))
        if not quarantine:
            _raise_quarantined(items)
        return items
    except IntakeError as exc:
        if name:
            raise exc.with_name(name) from exc.__cause__
        raise


def _raise_quarantined(items: list[Any]) -> None:
    bad = [i for i in items if isinstance(i, Quarantined) and i.outcome == "quarantined"]
    if not bad:
        return
    parts = [b.reason.removeprefix("schema: ") for b in bad[:MAX_ERRORS]]
    more = f"; and {len(bad) - MAX_ERRORS} more invalid items" if len(bad) > MAX_ERRORS else ""
    code = bad[0].code if all(b.code == bad[0].code for b in bad) else "schema"
    raise IntakeError(("schema: " if code == "schema" else "") + "; ".join(parts) + more, code)


def detect(doc: Any) -> str:
    """The format name of a decoded document; ``IntakeError(code="unknown-format")`` if none fits."""
    return _module(doc).NAME


def _module(doc: Any) -> Any:
    if not isinstance(doc, dict | list):
        raise IntakeError(
            f"unknown format: expected a JSON object (or a list of canonical events), got {_kind(doc)}",
            "unknown-format",
        )
    for module in FORMATS:
        if module.matches(doc):
            return module
    keys = sorted(str(k)[:40] for k in doc)
    shown = ", ".join(keys[:12]) + (f", … ({len(keys)} keys)" if len(keys) > 12 else "") or "none"
    raise IntakeError(
        "unknown format: expected a canonical event or an Alertmanager/Grafana/SNS-CloudWatch/Datadog/"
        f"PagerDuty webhook (top-level keys: {shown})",
        "unknown-format",
    )


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "a string" if isinstance(value, str) else "null"
