"""Alertmanager-style matchers, durations and recurring weekly windows (pure, no clock reads).

A matcher is the text ``name op "value"`` with ``op`` one of ``=``, ``!=``, ``=~``, ``!~``
(regexes are fully anchored and have RE2 semantics, as in Alertmanager: linear-time matching,
see :mod:`engine.compiler.regex`). ``name`` is an event field (``service``,
``severity``, ...) or ``labels.<label>``. A missing field or label reads as ``""``, so
``labels.team!="x"`` matches an event without ``team`` and ``labels.team=""`` tests absence.

Durations are integers (seconds) or text such as ``90s``, ``5m``, ``2h``, ``1d``.
Weekly windows are ``days`` + ``HH:MM`` start/end in a fixed UTC offset; an end at or before
the start wraps past midnight into the next day.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from engine.compiler.regex import RegexError, compile_full

FIELDS = ("service", "severity", "environment", "source", "title", "status", "fingerprint", "event_id")
OPS = ("=~", "!~", "!=", "=")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_MATCHER = re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_.:/@-]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*$')
_DURATION = re.compile(r"^(-?\d+)(ms|s|m|h|d|w)?$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")
_OFFSET = re.compile(r"^([+-])(\d{2}):(\d{2})$|^Z$")


class MatchError(ValueError):
    """A matcher, duration or window that cannot be used; ``code`` becomes the Diagnostic code."""

    def __init__(self, code: str, message: str, want: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.want = want


@dataclass(frozen=True)
class Matcher:
    name: str
    op: str
    value: str
    regex: Any = None  # an RE2 pattern (engine.compiler.regex.compile_full)

    def matches(self, doc: Mapping[str, Any]) -> bool:
        have = lookup(doc, self.name)
        if self.op == "=":
            return have == self.value
        if self.op == "!=":
            return have != self.value
        hit = self.regex is not None and self.regex.fullmatch(have) is not None
        return hit if self.op == "=~" else not hit

    def __str__(self) -> str:
        return f'{self.name}{self.op}"{self.value}"'


def lookup(doc: Mapping[str, Any], name: str) -> str:
    """The matchable text of ``name`` in an event/incident document ('' when absent)."""
    value = (doc.get("labels") or {}).get(name[7:]) if name.startswith("labels.") else doc.get(name)
    return "" if value is None else str(value)


def parse_matcher(text: Any) -> Matcher:
    if not isinstance(text, str):
        raise MatchError("bad-matcher", f"a matcher is a string like 'service=\"api\"', not {text!r}")
    m = _MATCHER.match(text)
    if not m:
        raise MatchError("bad-matcher", f"cannot parse matcher {text!r}",
                         want='name op "value" with op one of =, !=, =~, !~ (value in double quotes)')
    name, op, raw = m.groups()
    value = raw.replace('\\"', '"').replace("\\\\", "\\")
    if name not in FIELDS and not (name.startswith("labels.") and len(name) > 7):
        raise MatchError("unknown-matcher-field", f"unknown matcher field {name!r}",
                         want=[*FIELDS, "labels.<name>"])
    regex = None
    if op in ("=~", "!~"):
        try:
            regex = compile_full(value)
        except RegexError as exc:
            raise MatchError("bad-matcher-regex", f"invalid regular expression {value!r}: {exc}") from exc
    return Matcher(name, op, value, regex)


def matches_all(matchers: tuple[Matcher, ...], doc: Mapping[str, Any]) -> bool:
    if len(matchers) == 1:  # the usual case, several times per event: a generator costs more than the match
        return matchers[0].matches(doc)
    return all(m.matches(doc) for m in matchers)


def parse_duration(value: Any) -> float:
    """Seconds from ``300`` or ``"5m"``; negative values raise ``negative-window``."""
    if isinstance(value, bool):
        raise MatchError("bad-duration", f"{value!r} is not a duration", want="seconds or text like 30s, 5m, 2h")
    if isinstance(value, int | float):
        seconds = float(value) if isinstance(value, float) or abs(value) < 10**300 else math.inf
        if not math.isfinite(seconds):  # YAML .inf / .nan: every comparison with it is wrong
            raise MatchError("bad-duration", f"{value!r} is not a finite duration",
                             want="seconds or text like 30s, 5m, 2h")
    else:
        m = _DURATION.match(str(value).strip())
        if not m:
            raise MatchError("bad-duration", f"{value!r} is not a duration", want="seconds or text like 30s, 5m, 2h")
        seconds = int(m.group(1)) * _UNITS[m.group(2)]
    if seconds < 0:
        raise MatchError("negative-window", f"duration {value!r} is negative", want="0 or more")
    return seconds


def parse_time(value: Any) -> datetime:
    """An RFC 3339 time with an offset (silence and window bounds)."""
    try:
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise MatchError("bad-time", f"{value!r} is not an RFC 3339 time", want="e.g. 2025-01-01T00:00:00Z") from exc
    if when.tzinfo is None:
        raise MatchError("bad-time", f"{value!r} has no UTC offset", want="e.g. 2025-01-01T00:00:00Z")
    return when


@dataclass(frozen=True)
class Weekly:
    """Recurring window: ``days`` (0=Monday), minutes since midnight, fixed UTC offset."""

    days: tuple[int, ...]
    start: int
    end: int
    offset: timezone

    def contains(self, when: datetime) -> bool:
        local = when.astimezone(self.offset)
        minute = local.hour * 60 + local.minute + local.second / 60
        wraps = self.end <= self.start
        if local.weekday() in self.days and (minute >= self.start and (wraps or minute < self.end)):
            return True
        yesterday = (local.weekday() - 1) % 7
        return wraps and yesterday in self.days and minute < self.end


def parse_weekly(raw: Mapping[str, Any]) -> Weekly:
    days = []
    for day in raw.get("days") or DAYS:
        if str(day).lower()[:3] not in DAYS:
            raise MatchError("bad-day", f"unknown day {day!r}", want=list(DAYS))
        days.append(DAYS.index(str(day).lower()[:3]))
    start, end = (_minutes(raw.get(k, d)) for k, d in (("start", "00:00"), ("end", "24:00")))
    m = _OFFSET.match(str(raw.get("utc_offset", "Z")))
    if not m:
        raise MatchError("bad-offset", f"bad utc_offset {raw.get('utc_offset')!r}", want="+HH:MM, -HH:MM or Z")
    sign, hh, mm = m.groups() if m.group(1) else ("+", "00", "00")
    delta = timedelta(hours=int(hh), minutes=int(mm)) * (-1 if sign == "-" else 1)
    return Weekly(tuple(sorted(set(days))), start, end, timezone(delta))


def _minutes(value: Any) -> int:
    text = str(value)
    if not _CLOCK.match(text):
        raise MatchError("bad-clock-time", f"{value!r} is not a time of day", want="HH:MM (00:00 to 24:00)")
    hh, mm = text.split(":")
    return int(hh) * 60 + int(mm)
