"""Intake: bytes in, canonical events out. ``parse(data)`` → ``list[Event | Acknowledgement]``.

The stages, in order (each raises :class:`IntakeError` with a stable ``code``):

1. :func:`engine.intake.safejson.load` — size, UTF-8, depth, JSON syntax, finite numbers;
2. :func:`detect` — the first format in :data:`FORMATS` whose ``matches(doc)`` is true;
3. that module's ``normalize(doc, now=...)`` — vendor fields → ``Event`` fields, validated by
   ``Event.model_validate`` (fields that have no Event slot become ``labels``).

Formats (one module each, all with ``NAME``, ``matches(doc)`` and ``normalize(doc, *, now)``):
``cloudwatch-sns``, ``pagerduty-webhook``, ``grafana``, ``alertmanager``, ``datadog``,
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
    pagerduty_webhook,
    safejson,
)
from engine.intake.errors import CODES, IntakeError
from engine.model.event import Acknowledgement, Event

__all__ = ["CODES", "FORMATS", "IntakeError", "detect", "parse"]

FORMATS = (cloudwatch_sns, pagerduty_webhook, grafana, alertmanager, datadog, canonical)


def parse(
    data: bytes, *, name: str = "", max_bytes: int = 1_048_576, now: datetime | None = None
) -> list[Event | Acknowledgement]:
    """Normalize one request body or file. ``name`` (a path or request id) prefixes ``str(error)``;
    ``now`` is the timestamp for payloads that carry none (default: the current UTC time)."""
    try:
        doc = safejson.load(data, max_bytes=max_bytes)
        return list(_module(doc).normalize(doc, now=now or datetime.now(UTC)))
    except IntakeError as exc:
        if name:
            raise exc.with_name(name) from exc.__cause__
        raise


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
