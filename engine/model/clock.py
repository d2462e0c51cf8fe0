"""The system-wide time format: RFC 3339 UTC to the millisecond, as every audit row and spool name carries it."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any


def utcnow() -> str:
    """Now, RFC 3339 UTC to the millisecond (formatted once per millisecond: several rows share it)."""
    ms = time.time_ns() // 1_000_000
    if ms != _last[0]:
        _last[:] = [ms, datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"]
    return str(_last[1])


_last: list[Any] = [0, ""]


def at(epoch: float) -> str:
    """Epoch seconds in the log's format (``2025-01-02T03:12:00.000Z``)."""
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def normalized(stamp: str) -> str:
    """An ISO time with any offset in the log's format; a stamp that is not one (or has no offset) unchanged."""
    try:
        when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return stamp
    return at(when.timestamp()) if when.tzinfo is not None else stamp


