"""One report model for every insights command, rendered as terminal, Markdown, HTML, JSON or CSV.

A :class:`Report` is a header (window, time zone, rules hashes, the audit checkpoint it was
computed from), a list of blocks (tables, findings, heatmaps, charts) and a definitions
footer. It holds no time of generation: the same log position and window give the same report
byte for byte (golden-tested).
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, ParamSpec, TypeVar
from zoneinfo import ZoneInfo

SEVERITY_ORDER = ("CRITICAL", "MAJOR", "MODERATE", "NONE")
P = ParamSpec("P")
R = TypeVar("R")


def gc_paused(f: Callable[P, R]) -> Callable[P, R]:
    """Run ``f`` with the cyclic garbage collector paused: a report over a long window allocates millions of
    acyclic objects (rows, incident ids), and every burst of allocations would start a collection that
    traverses all of them (a third of a whole year's ``rules metrics``)."""

    @functools.wraps(f)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        was = gc.isenabled()
        gc.disable()
        try:
            return f(*args, **kwargs)
        finally:
            if was:
                gc.enable()

    return run


@dataclass
class Header:
    title: str
    since: float
    until: float
    tz: str
    rules_hashes: list[str]
    checkpoint: dict[str, int]

    def window(self) -> str:
        zone = ZoneInfo(self.tz)
        fmt = "%Y-%m-%d %H:%M"
        a = datetime.fromtimestamp(self.since, zone).strftime(fmt)
        b = datetime.fromtimestamp(self.until, zone).strftime(fmt)
        return f"{a} → {b} ({self.tz})"

    def lines(self) -> list[str]:
        hashes = ", ".join(h[:12] for h in self.rules_hashes) or "none (no incident in the window)"
        position = ", ".join(f"{k} #{v}" for k, v in self.checkpoint.items())
        return [f"window: {self.window()}", f"rules hash(es): {hashes}", f"audit checkpoint: {position}"]


@dataclass
class Table:
    id: str
    title: str
    columns: list[str]
    rows: list[list[Any]]
    note: str = ""


@dataclass
class Findings:
    id: str
    title: str
    items: list[str]
    empty: str = "none"


@dataclass
class Heatmap:
    """Services × buckets; each cell the highest severity in the bucket and the incident count."""

    id: str
    title: str
    services: list[str]
    buckets: list[str]
    cells: list[list[tuple[str | None, int]]]


@dataclass
class Chart:
    """A chart for the HTML page (the other formats show the same numbers as a table or sparkline)."""

    id: str
    title: str
    kind: str  # "bar" | "line" | "stacked"
    labels: list[str]
    series: dict[str, list[float]]
    ylabel: str = ""


Block = Table | Findings | Heatmap | Chart


@dataclass
class Report:
    header: Header
    blocks: list[Block] = field(default_factory=list)
    definitions: list[tuple[str, str]] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)  # machine-readable detail for --format json

    def as_dict(self) -> dict[str, Any]:
        blocks = []
        for b in self.blocks:
            blocks.append({"type": type(b).__name__.lower(), **asdict(b)})
        return {"title": self.header.title, "window": {"since": self.header.since, "until": self.header.until,
                                                       "tz": self.header.tz, "text": self.header.window()},
                "rules_hashes": self.header.rules_hashes, "checkpoint": self.header.checkpoint,
                "blocks": blocks, "definitions": dict(self.definitions), "data": self.data}


def fmt_duration(seconds: float | None) -> str:
    """Seconds as a short human duration: 850 ms, 4.2 s, 3m 05s, 2h 10m, 3d 4h."""
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m {int(seconds % 60):02d}s"
    if seconds < 86400:
        return f"{int(seconds // 3600)}h {int(seconds % 3600 // 60):02d}m"
    return f"{int(seconds // 86400)}d {int(seconds % 86400 // 3600)}h"


def fmt_pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} %"
