"""Clock skew: an event stamped further ahead of its intake time than the bound is decided at intake time.

Takes an intake item (``Event`` or ``Acknowledgement``), the intake time and the bound in seconds;
returns the item to decide (the same one, or a copy stamped with the intake time) and how many
seconds ahead it was (``None`` when within the bound). Why: suppression orders everything by the
event's own timestamp, so one event from a monitor whose clock runs 10 years fast would make every
correct later event of its fingerprint a "stale" resolve, a "dedup repeat" or a "group member" —
nobody paged, the incident never closed. Timestamps in the past are accepted whatever their age
(a spool backlog or a late delivery is normal); they are ordered as the README describes.
"""

from __future__ import annotations

from datetime import datetime

from engine.model.event import Acknowledgement, Event

DEFAULT_MAX_AHEAD = 300.0  # seconds (`rules run --max-clock-skew`)
Item = Event | Acknowledgement


def bound(item: Item, intake: datetime, max_ahead: float | None) -> tuple[Item, float | None]:
    """``(item to decide, seconds ahead)``; ``max_ahead`` None: no bound (``rules simulate`` replays)."""
    if max_ahead is None:
        return item, None
    ahead = (item.timestamp - intake).total_seconds()
    if ahead <= max_ahead:
        return item, None
    return item.model_copy(update={"timestamp": intake}), ahead


def describe(original: datetime, ahead: float, max_ahead: float) -> str:
    return (f"clock skew: timestamp {original.isoformat()} is {ahead:.0f} s ahead of intake (bound {max_ahead:g} s); "
            "decided at intake time")
