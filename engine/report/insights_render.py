"""Render a :class:`~engine.report.insights_model.Report` as terminal text, Markdown, JSON or CSV.

The terminal form uses rich: tables fit the console width, colour follows ``NO_COLOR`` and the
terminal, and a console that cannot encode UTF-8 gets ASCII boxes, glyphs and sparklines.
Statuses are words (met / warning / breached) as well as colours, so nothing needs colour.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Sequence
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table as RichTable
from rich.text import Text

from engine.report import heatmap as hm
from engine.report.insights_model import Chart, Findings, Heatmap, Report, Table, gc_paused

STATUS_STYLE = {"met": "green", "warning": "yellow", "breached": "bold red"}
SPARK = "▁▂▃▄▅▆▇█"
ASCII_SPARK = " .:-=+*#"


def sparkline(values: list[float], ascii_only: bool = False) -> str:
    chars = ASCII_SPARK if ascii_only else SPARK
    top = max(values, default=0)
    if top <= 0:
        return chars[0] * len(values)
    return "".join(chars[min(len(chars) - 1, int(v / top * (len(chars) - 1) + 0.5))] for v in values)


def utf8(console: Console) -> bool:
    return (console.encoding or "").lower().replace("-", "") in ("utf8", "utf_8")


ASCII = str.maketrans({"→": "->", "—": "-", "–": "-", "×": "x", "≥": ">=", "≤": "<=", "•": "-", "·": ".",
                       "…": "...", "∞": "inf", "µ": "u", "━": "-", "█": "#", "▓": "+", "▒": "-", "░": "."})


def terminal(report: Report, console: Console) -> None:
    """Print the report; a console that cannot encode UTF-8 gets the same report in ASCII."""
    if utf8(console):
        _terminal(report, console, False)
        return
    buf = io.StringIO()
    _terminal(report, Console(file=buf, width=console.width, color_system=None, highlight=False), True)
    text = buf.getvalue().translate(ASCII)
    console.file.write(text.encode(console.encoding or "ascii", "replace").decode(console.encoding or "ascii"))


def _terminal(report: Report, console: Console, ascii_only: bool) -> None:
    console.print(Text(report.header.title, style="bold"))
    for line in report.header.lines():
        console.print(line, highlight=False, markup=False)
    for block in report.blocks:
        console.print()
        if isinstance(block, Table):
            t = RichTable(title=block.title, title_justify="left", box=box.ASCII if ascii_only else box.SIMPLE_HEAD,
                          safe_box=ascii_only)
            for c in block.columns:
                t.add_column(c, overflow="fold")
            for row in block.rows:
                t.add_row(*[_cell(v) for v in row])
            console.print(t)
            if block.note:
                console.print(block.note, highlight=False, markup=False)
        elif isinstance(block, Findings):
            console.print(Text(block.title, style="bold"))
            for item in block.items or [block.empty]:
                console.print(("- " if ascii_only else "• ") + item, highlight=False, markup=False)
        elif isinstance(block, Heatmap):
            _heatmap(block, console, ascii_only)
        elif isinstance(block, Chart):
            console.print(Text(block.title, style="bold"))
            for name, values in block.series.items():
                console.print(f"{name:<12} {sparkline(values, ascii_only)}  max {max(values, default=0):g}",
                              highlight=False, markup=False)
    if report.definitions:
        console.print()
        console.print(Text("Definitions", style="bold"))
        for key, text in report.definitions:
            console.print(f"{key}: {text}", highlight=False, markup=False)


def _cell(value: Any) -> Text:
    s = "—" if value is None else str(value)
    return Text(s, style=STATUS_STYLE.get(s, ""))


def _heatmap(block: Heatmap, console: Console, ascii_only: bool) -> None:
    lines = hm.text_lines(block, ascii_only, console.width)
    glyphs = hm.ASCII_GLYPHS if ascii_only else hm.GLYPHS
    colour = {glyphs[s]: hm.COLOURS[s] for s in ("CRITICAL", "MAJOR", "MODERATE", "NONE")}
    for line in lines:
        text = Text(line)
        if not console.no_color and console.color_system:
            for i, ch in enumerate(line):
                if ch in colour and line is not lines[-1]:
                    text.stylize(colour[ch], i, i + 1)
        console.print(text, highlight=False)


def markdown(report: Report) -> str:
    out = [f"# {report.header.title}", ""]
    out += [f"- {line}" for line in report.header.lines()]
    for block in report.blocks:
        out.append("")
        if isinstance(block, Table):
            out += [f"## {block.title}", "", _md_row(block.columns), _md_row(["---"] * len(block.columns))]
            out += [_md_row(["—" if v is None else str(v) for v in row]) for row in block.rows]
            if not block.rows:
                out.append(_md_row(["none", *[""] * (len(block.columns) - 1)]))
            if block.note:
                out += ["", block.note]
        elif isinstance(block, Findings):
            out += [f"## {block.title}", ""]
            out += [f"- {item}" for item in block.items] or [f"_{block.empty}_"]
        elif isinstance(block, Heatmap):
            out += [f"## {block.title}", "", "```", *hm.text_lines(block)[2:], "```"]
        elif isinstance(block, Chart):
            out += [f"## {block.title}", "", "```"]
            out += [f"{name:<12} {sparkline(v)}  max {max(v, default=0):g}" for name, v in block.series.items()]
            out.append("```")
    if report.definitions:
        out += ["", "## Definitions", ""]
        out += [f"- **{key}**: {text}" for key, text in report.definitions]
    return "\n".join(out) + "\n"


def _md_row(cells: list[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


_PLAIN = {str, int, float, bool}


@gc_paused
def to_json(report: Report) -> str:
    """Indented, with each long list of plain values (the incident ids behind a figure) on one line:
    readable, and encoded by the C encoder (an indented dump of a million ids is pure Python)."""
    flat: list[str] = []  # each long list of plain values, encoded

    def pack(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: pack(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            encoded = _flat_list(value) if len(value) > 8 else None
            if encoded is not None:
                flat.append(encoded)
                return f"\x00{len(flat) - 1}\x00"
            return [pack(v) for v in value]
        return value

    text = json.dumps(pack(report.as_dict()), indent=2, ensure_ascii=False, default=str)
    text = re.sub(r'"\\u0000(\d+)\\u0000"', lambda m: flat[int(m.group(1))], text)
    return text + "\n"


_UNQUOTED = [*map(chr, range(32)), "\\"]  # what json.dumps(ensure_ascii=False) escapes in a string, but quotes


def _flat_list(values: Sequence[Any]) -> str | None:
    """``json.dumps(values, ensure_ascii=False)`` when every value is plain (str, int, float, bool), else None.
    Strings none of which needs escaping (incident ids) are joined directly: the same text, without a
    pass over the types (join refuses anything but strings)."""
    if values and type(values[0]) is str:
        try:
            text = '", "'.join(values)  # the only quotes are the separators' when none needs escaping
        except TypeError:
            pass
        else:
            if text.count('"') == 2 * (len(values) - 1) and not any(c in text for c in _UNQUOTED):
                return f'["{text}"]'
    if not set(map(type, values)) <= _PLAIN:
        return None
    return json.dumps(values, ensure_ascii=False)


def to_csv(report: Report) -> str:
    """Every table, finding list and heatmap as rows of one CSV, its id in the first column (one header
    row per block)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    for block in report.blocks:
        if isinstance(block, Table):
            w.writerow(["table", *block.columns])
            for row in block.rows:
                w.writerow([block.id, *["" if v is None else v for v in row]])
        elif isinstance(block, Findings):
            w.writerow(["table", "finding"])
            for item in block.items:
                w.writerow([block.id, item])
        elif isinstance(block, Heatmap):
            w.writerow(["table", "service", *block.buckets])
            for name, row in zip(block.services, block.cells, strict=True):
                w.writerow([block.id, name, *[f"{s or ''}:{n}" for s, n in row]])
    return buf.getvalue()
