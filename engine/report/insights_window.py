"""Report windows: ``--since``/``--until`` as dates, times or durations back from the end, in a time zone."""

from __future__ import annotations

import re
import time
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (an IANA name such as UTC or Europe/Paris)") from None


def duration(text: str) -> float:
    """``90m``, ``24h``, ``7d``, ``2w`` → seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([mhdw])\s*", text)
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"bad duration {text!r} (a positive number with m, h, d or w: 24h, 7d)")
    return float(match.group(1)) * UNITS[match.group(2)]


def instant(text: str, tz: ZoneInfo) -> float:
    """An ISO date or date-time; without an offset it is read in ``tz``."""
    try:
        t = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"bad time {text!r} (ISO 8601: 2026-12-01 or 2026-12-01T09:00+01:00)") from None
    return (t if t.tzinfo else t.replace(tzinfo=tz)).timestamp()


def window(since: str | None, until: str | None, length: str, tz: ZoneInfo,
           now: float | None = None) -> tuple[float, float]:
    """``[since, until)``: until defaults to now; since to until minus ``length`` (or a duration given as since)."""
    end = instant(until, tz) if until else (time.time() if now is None else now)
    if since is None:
        start = end - duration(length)
    elif re.fullmatch(r"\s*\d+(?:\.\d+)?\s*[mhdw]\s*", since):
        start = end - duration(since)
    else:
        try:
            start = instant(since, tz)
        except ValueError:  # --since also takes a duration: say so, in the words of history and audit
            raise ValueError(f"bad time {since!r}: neither a duration (7d, 12h, 30m) nor an ISO 8601 / RFC 3339 time "
                             "(2026-12-01 or 2026-12-01T09:00+01:00)") from None
    if start >= end:
        raise ValueError("the window is empty: --since must be before --until")
    return start, end
