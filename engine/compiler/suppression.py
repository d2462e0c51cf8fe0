"""The ``suppression`` rule file → typed :class:`SuppressionPolicy`, with Diagnostics.

Takes one schema-valid :class:`~engine.compiler.load.Document` of kind ``suppression`` and returns
the typed policy; every semantic problem (unparseable matcher, bad regex, negative window,
unknown matcher field, silence ending before it starts, bad fusion condition) is appended
to ``diags`` as a Diagnostic at the file:line:col of the offending value.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.compiler import conditions
from engine.compiler.load import Document, escape
from engine.compiler.matchers import (
    Matcher,
    MatchError,
    Weekly,
    parse_duration,
    parse_matcher,
    parse_time,
    parse_weekly,
)
from engine.model.diagnostics import Diagnostic

MECHANISMS = ("dedup", "persistence", "flap", "group", "inhibit", "silence", "maintenance", "fusion")


@dataclass(frozen=True)
class Persistence:
    id: str
    match: tuple[Matcher, ...]
    min_severity: str
    max_severity: str | None
    seconds: float | None
    events: int | None


@dataclass(frozen=True)
class Flap:
    window: float
    max_transitions: int
    hold_down: float


@dataclass(frozen=True)
class Grouping:
    group_by: tuple[str, ...]
    group_wait: float = 30.0
    group_interval: float = 300.0
    repeat_interval: float = 14400.0


@dataclass(frozen=True)
class Inhibit:
    id: str
    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...]


@dataclass(frozen=True)
class Silence:
    id: str
    matchers: tuple[Matcher, ...]
    starts_at: datetime | None
    ends_at: datetime | None
    author: str
    reason: str
    weekly: Weekly | None = None  # set: a recurring maintenance window

    def active(self, when: datetime) -> bool:
        if self.starts_at and when < self.starts_at:
            return False
        if self.ends_at and when >= self.ends_at:
            return False
        return self.weekly.contains(when) if self.weekly else True


@dataclass(frozen=True)
class Fusion:
    id: str
    window: float
    hold: float
    severity: str
    signals: dict[str, Any]  # signal kind → condition AST
    max_windows: int = 1000


@dataclass(frozen=True)
class SuppressionPolicy:
    enabled: frozenset[str] = frozenset()
    dedup_window: float = 0.0
    fingerprint_fields: tuple[str, ...] = ()  # empty: the event's fingerprint, else service+title
    persistence: tuple[Persistence, ...] = ()
    flap: Flap | None = None
    grouping: Grouping | None = None
    inhibit: tuple[Inhibit, ...] = ()
    silences: tuple[Silence, ...] = ()
    maintenance: tuple[Silence, ...] = ()
    fusion: tuple[Fusion, ...] = field(default=())

    def on(self, mechanism: str) -> bool:
        return mechanism in self.enabled


def build(doc: Document, diags: list[Diagnostic]) -> SuppressionPolicy:
    d = doc.data

    def attempt(pointer: str, fn: Callable[[], Any], default: Any = None) -> Any:
        try:
            return fn()
        except MatchError as exc:
            diags.append(doc.diagnostic(pointer, exc.code, str(exc), want=exc.want))
            return default

    def duration(pointer: str, value: Any, default: float = 0.0) -> float:
        return default if value is None else attempt(pointer, lambda: parse_duration(value), default)

    def matchers(pointer: str, items: list[Any] | None) -> tuple[Matcher, ...]:
        out = [attempt(f"{pointer}/{i}", functools.partial(parse_matcher, t)) for i, t in enumerate(items or [])]
        return tuple(m for m in out if m is not None)

    configured = {"dedup": "dedup", "persistence": "persistence", "flap": "flap", "group": "grouping",
                  "inhibit": "inhibit", "silence": "silences", "maintenance": "maintenance", "fusion": "fusion"}
    enabled = frozenset(d.get("enabled") or [m for m, key in configured.items() if d.get(key)])
    dedup = d.get("dedup") or {}
    persistence = []
    for i, r in enumerate(d.get("persistence") or []):
        p = f"/persistence/{i}"
        if r.get("for") is None and r.get("for_events") is None:
            diags.append(doc.diagnostic(p, "persistence-needs-duration", "give 'for' (a duration) or 'for_events'"))
        persistence.append(Persistence(r["id"], matchers(f"{p}/match", r.get("match")), r["min_severity"],
                                       r.get("max_severity"),
                                       duration(f"{p}/for", r["for"]) if r.get("for") is not None else None,
                                       r.get("for_events")))
    flap = None
    if f := d.get("flap"):
        flap = Flap(duration("/flap/window", f["window"]), f["max_transitions"], duration("/flap/hold_down",
                                                                                         f["hold_down"]))
    grouping = None
    if g := d.get("grouping"):
        grouping = Grouping(tuple(g["group_by"]), *(duration(f"/grouping/{k}", g.get(k), dv) for k, dv in
                                                    (("group_wait", 30.0), ("group_interval", 300.0),
                                                     ("repeat_interval", 14400.0))))
    inhibit = tuple(Inhibit(r["id"], matchers(f"/inhibit/{i}/source", r["source"]),
                            matchers(f"/inhibit/{i}/target", r["target"]), tuple(r.get("equal") or ()))
                    for i, r in enumerate(d.get("inhibit") or []))
    silences = tuple(_silence(doc, f"/silences/{i}", s, matchers, attempt, diags)
                     for i, s in enumerate(d.get("silences") or []))
    maintenance = tuple(_silence(doc, f"/maintenance/{i}", s, matchers, attempt, diags)
                        for i, s in enumerate(d.get("maintenance") or []))
    fusion = tuple(_fusion(doc, f"/fusion/{i}", r, duration, diags) for i, r in enumerate(d.get("fusion") or []))
    return SuppressionPolicy(enabled, duration("/dedup/window", dedup.get("window")), tuple(dedup.get("fields") or ()),
                             tuple(persistence), flap, grouping, inhibit, silences, maintenance, fusion)


def _silence(doc: Document, p: str, s: dict[str, Any], matchers: Callable[..., tuple[Matcher, ...]],
             attempt: Callable[..., Any], diags: list[Diagnostic]) -> Silence:
    starts = attempt(f"{p}/starts_at", lambda: parse_time(s["starts_at"])) if "starts_at" in s else None
    ends = attempt(f"{p}/ends_at", lambda: parse_time(s["ends_at"])) if "ends_at" in s else None
    if starts and ends and ends <= starts:
        diags.append(doc.diagnostic(f"{p}/ends_at", "silence-ends-before-start",
                                    f"ends_at {s['ends_at']} is not after starts_at {s['starts_at']}"))
    weekly = attempt(f"{p}/weekly", lambda: parse_weekly(s["weekly"])) if "weekly" in s else None
    return Silence(s["id"], matchers(f"{p}/matchers", s["matchers"]), starts, ends, s["author"], s["reason"], weekly)


def _fusion(doc: Document, p: str, r: dict[str, Any], duration: Callable[..., float],
            diags: list[Diagnostic]) -> Fusion:
    signals: dict[str, Any] = {}
    for kind, raw in r["signals"].items():
        ptr = f"{p}/signals/{escape(kind)}"
        try:
            signals[kind] = conditions.parse(raw, ptr)
        except conditions.ConditionError as exc:
            diags.append(doc.diagnostic(exc.pointer, exc.code, str(exc), want=exc.want))
    window = duration(f"{p}/window", r["window"])
    hold = duration(f"{p}/hold", r.get("hold"), window)
    if hold > window:
        diags.append(doc.diagnostic(f"{p}/hold", "fusion-hold-too-long",
                                    f"hold ({hold:g}s) is longer than the window ({window:g}s)"))
    return Fusion(r["id"], window, hold, r["severity"], signals, r.get("max_windows", 1000))
