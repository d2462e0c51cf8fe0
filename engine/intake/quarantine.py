"""One item of a multi-item body (an Alertmanager/Grafana group, a canonical list) that did not
become an event, while the body's other items go on: :class:`Quarantined`.

A group is one HTTP request, and a sender that got ``202`` never retries it, so a single bad
alert must not fail the whole body: ``parse(..., quarantine=True)`` returns a ``Quarantined``
in that alert's place. The pipeline records it as an ``intake`` row (outcome ``quarantined``,
its code and reason, the item's JSON pointer) and the daemon writes the item's own JSON to
``failed/`` beside a ``.reason.json``; the body's other items are decided as usual.

``outcome="truncated"`` is not an item but a notice: Alertmanager's ``max_alerts`` left
``truncatedAlerts`` alerts out of the body. They never arrived, so they cannot be kept, but they
are counted, logged and recorded instead of surviving only as a label.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson


@dataclass(frozen=True, slots=True)
class Quarantined:
    where: str  # JSON pointer of the item in the body (``/alerts/3``), or of the notice
    code: str  # an IntakeError code: schema, too-large, ..., truncated-alerts
    reason: str  # one line, starting with the pointer
    raw: bytes = b""  # the item's JSON (compact), written to failed/; empty for a notice
    outcome: str = "quarantined"  # quarantined | truncated
    timestamp: None = None  # not an event: sorts first, opens nothing


def quarantined(where: str, code: str, reason: str, item: object) -> Quarantined:
    """The item's compact JSON is kept as it arrived (values that orjson cannot encode: ``repr``)."""
    try:
        raw = orjson.dumps(item)
    except (TypeError, orjson.JSONEncodeError):
        raw = repr(item).encode("utf-8", "backslashreplace")
    return Quarantined(where, code, " ".join(reason.split()), raw)


def item_size(item: object) -> int:
    """Bytes of the item as compact JSON: what the per-event limit is checked against."""
    try:
        return len(orjson.dumps(item))
    except (TypeError, orjson.JSONEncodeError):
        return 0
