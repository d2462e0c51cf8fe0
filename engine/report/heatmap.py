"""The services × time heatmap: cells from incident rows, glyphs for a terminal, an SVG for a page.

A cell is the highest severity among the incidents of that service that started in the bucket,
with their count. Each severity has its own glyph (so the map reads without colour) and the
brief's colour (README "Severity Classification Matrix").
"""

from __future__ import annotations

import html
from bisect import bisect_right
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from engine.report.insights_model import Heatmap

RANK = {"NONE": 0, "MODERATE": 1, "MAJOR": 2, "CRITICAL": 3}
GLYPHS = {"CRITICAL": "█", "MAJOR": "▓", "MODERATE": "▒", "NONE": "░", None: "·"}
ASCII_GLYPHS = {"CRITICAL": "#", "MAJOR": "+", "MODERATE": "-", "NONE": ".", None: " "}
COLOURS = {"CRITICAL": "#c92a2a", "MAJOR": "#e8590c", "MODERATE": "#fab005", "NONE": "#37b24d", None: "#f1f3f5"}
LEGEND = "█ CRITICAL  ▓ MAJOR  ▒ MODERATE  ░ NONE only  · no incident"
ASCII_LEGEND = "# CRITICAL  + MAJOR  - MODERATE  . NONE only  (blank) no incident"


def bucket_starts(since: float, until: float, bucket_hours: float, tz: ZoneInfo) -> list[float]:
    """Bucket boundaries from ``since``. Day buckets are calendar days of the zone: cut at local midnight
    (a DST day is 23 or 25 h), so a window that does not start at midnight begins and ends with a part of
    a day, and every column is labelled by the day its incidents started on."""
    if bucket_hours % 24:
        starts, t = [], since
        while t < until:
            starts.append(t)
            t += bucket_hours * 3600
        return starts
    step = timedelta(days=bucket_hours // 24)
    day = datetime.fromtimestamp(since, tz).replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
    starts = [since] if since < until else []
    while (t := (day := day + step).replace(tzinfo=tz).timestamp()) < until:
        starts.append(t)
    return starts


def build(rows: Iterable[dict[str, Any]], since: float, until: float, bucket_hours: float, tz: ZoneInfo,
          services: list[str] | None = None, title: str = "Service incident heatmap") -> Heatmap:
    """The heatmap of incidents (``service``, ``severity``, ``start_epoch``) starting in ``[since, until)``."""
    starts = bucket_starts(since, until, bucket_hours, tz)
    bounds = [*starts[1:], until]
    cells: dict[str, list[tuple[str | None, int]]] = {}
    for r in rows:
        t = r["start_epoch"]
        if t is None or not since <= t < until:
            continue
        i = bisect_right(bounds, t)  # the first bucket whose end is after t
        row = cells.setdefault(r["service"], [(None, 0)] * len(starts))
        worst, n = row[i]
        sev = r["severity"]
        row[i] = (sev if worst is None or RANK[sev] > RANK[worst] else worst, n + 1)
    names = services if services is not None else sorted(cells, key=lambda s: (*_weight(cells[s]), s))
    fmt = "%a %d" if bucket_hours % 24 == 0 else "%d %H:%M"
    labels = [datetime.fromtimestamp(s, tz).strftime(fmt) for s in starts]
    return Heatmap("heatmap", title, names, labels, [cells.get(s, [(None, 0)] * len(starts)) for s in names])


def _weight(row: list[tuple[str | None, int]]) -> tuple[int, int]:
    """Sort key: the worst severity first, then the most incidents."""
    return (-max((RANK[s] for s, _ in row if s), default=-1), -sum(n for _, n in row))


def text_lines(hm: Heatmap, ascii_only: bool = False, width: int | None = None) -> list[str]:
    """The heatmap as plain lines: a name column, one glyph per bucket, the total."""
    glyphs = ASCII_GLYPHS if ascii_only else GLYPHS
    name_w = max([len(s) for s in hm.services] + [7])
    if width is not None:
        name_w = min(name_w, max(8, width - len(hm.buckets) - 8))
    rule = "-" if ascii_only else "━"
    lines = [hm.title, rule * (name_w + 1 + len(hm.buckets) + 6)]
    for name, row in zip(hm.services, hm.cells, strict=True):
        shown = name if len(name) <= name_w else name[:name_w - 1] + ("~" if ascii_only else "…")
        lines.append(f"{shown:<{name_w}} {''.join(glyphs[s] for s, _ in row)}  {sum(n for _, n in row):>4}")
    if hm.buckets:
        lines.append(f"{'':<{name_w}} first: {hm.buckets[0]}, last: {hm.buckets[-1]}, {len(hm.buckets)} buckets")
    lines.append(ASCII_LEGEND if ascii_only else LEGEND)
    return lines


def svg(hm: Heatmap, cell: int = 22) -> str:
    """A self-contained SVG of the heatmap: coloured cells with the glyph and count in a tooltip."""
    name_w = 8 * max([len(s) for s in hm.services] + [8])
    w = name_w + cell * len(hm.buckets) + 10
    top = 70
    h = top + cell * len(hm.services) + 10
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="heatmap" width="{w}" height="{h}" '
           f'viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="11" role="img">',
           f"<title>{html.escape(hm.title)}</title>"]
    for j, label in enumerate(hm.buckets):
        if j % max(1, len(hm.buckets) // 12) == 0:
            x = name_w + j * cell
            out.append(f'<text x="{x + 4}" y="{top - 4}" transform="rotate(-45 {x + 4} {top - 4})">'
                       f"{html.escape(label)}</text>")
    for i, (name, row) in enumerate(zip(hm.services, hm.cells, strict=True)):
        y = top + i * cell
        out.append(f'<text x="0" y="{y + cell - 5}">{html.escape(name)}</text>')
        for j, (sev, n) in enumerate(row):
            tip = f"{name} {hm.buckets[j]}: {n} incident(s)" + (f", worst {sev}" if sev else "")
            out.append(f'<rect class="cell" data-severity="{sev or ""}" data-count="{n}" x="{name_w + j * cell}" '
                       f'y="{y}" width="{cell - 2}" height="{cell - 2}" fill="{COLOURS[sev]}">'
                       f"<title>{html.escape(tip)}</title></rect>")
    out.append("</svg>")
    return "".join(out)
