"""One self-contained HTML page for a report: inline CSS, SVG charts drawn by matplotlib, no script, no CDN.

Opened from a CI artifact or a mail attachment it looks the same offline: every chart is an
inline ``<svg>`` (matplotlib's SVG backend, text as text), the heatmap is :func:`heatmap.svg`.
"""

from __future__ import annotations

import html
import io
from typing import Any

from engine.report import heatmap as hm
from engine.report.insights_model import Chart, Findings, Heatmap, Report, Table

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:72rem;color:#212529}
h1{margin-bottom:.2rem}.meta{color:#495057;margin:0 0 1.5rem 0;padding-left:1.2rem}
table{border-collapse:collapse;margin:.5rem 0 1rem 0;font-size:.9rem}
th,td{border-bottom:1px solid #dee2e6;padding:.25rem .6rem;text-align:left;vertical-align:top}
th{background:#f1f3f5}.met{color:#2b8a3e}.warning{color:#e67700}.breached{color:#c92a2a;font-weight:bold}
.note{color:#495057;font-size:.85rem}figure{margin:0 0 1.5rem 0}dt{font-weight:bold}dd{margin:0 0 .5rem 1rem}
"""
COLOURS = {"CRITICAL": hm.COLOURS["CRITICAL"], "MAJOR": hm.COLOURS["MAJOR"], "MODERATE": hm.COLOURS["MODERATE"]}


def page(report: Report) -> str:
    e = html.escape
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{e(report.header.title)}</title><style>{CSS}</style></head><body>",
           f"<h1>{e(report.header.title)}</h1>", '<ul class="meta">']
    out += [f"<li>{e(line)}</li>" for line in report.header.lines()]
    out.append("</ul>")
    for block in report.blocks:
        out.append(f'<section id="{e(block.id)}">')
        if isinstance(block, Table):
            out.append(_table(block))
        elif isinstance(block, Findings):
            out.append(f"<h2>{e(block.title)}</h2>")
            items = block.items or [block.empty]
            out.append("<ul>" + "".join(f"<li>{e(i)}</li>" for i in items) + "</ul>")
        elif isinstance(block, Heatmap):
            out.append(f'<h2>{e(block.title)}</h2><figure class="chart">{hm.svg(block)}'
                       f"<figcaption>{e(hm.LEGEND)}</figcaption></figure>")
        elif isinstance(block, Chart):
            out.append(f'<h2>{e(block.title)}</h2><figure class="chart">{chart_svg(block)}</figure>')
        out.append("</section>")
    if report.definitions:
        out.append('<section id="definitions"><h2>Definitions</h2><dl>')
        out += [f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in report.definitions]
        out.append("</dl></section>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _table(t: Table) -> str:
    e = html.escape
    head = "".join(f"<th>{e(c)}</th>" for c in t.columns)
    body = []
    for row in t.rows:
        cells = []
        for v in row:
            s = "—" if v is None else str(v)
            cls = f' class="{s}"' if s in ("met", "warning", "breached") else ""
            cells.append(f"<td{cls}>{e(s)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    note = f'<p class="note">{e(t.note)}</p>' if t.note else ""
    empty = "" if t.rows else f'<tr><td colspan="{len(t.columns)}">none</td></tr>'
    return (f"<h2>{e(t.title)}</h2><table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}{empty}</tbody>"
            f"</table>{note}")


def chart_svg(chart: Chart) -> str:
    """The chart as inline SVG (matplotlib, Agg-free SVG backend; fonts as text, no external files)."""
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "insights"}):  # text as text; stable ids
        return _draw(chart, Figure)


def _draw(chart: Chart, figure: Any) -> str:
    fig = figure(figsize=(9, 3.2), dpi=100)
    ax: Any = fig.add_subplot()
    x = list(range(len(chart.labels)))
    if chart.kind == "stacked":
        bottom = [0.0] * len(x)
        for name, values in chart.series.items():
            ax.bar(x, values, bottom=bottom, label=name, color=COLOURS.get(name))
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        ax.legend(loc="upper left", fontsize=8)
    elif chart.kind == "bar":
        for name, values in chart.series.items():
            ax.bar(x, values, label=name, color="#4c6ef5")
    else:
        for name, values in chart.series.items():
            ax.plot(x, values, label=name, marker=".")
        ax.legend(loc="upper left", fontsize=7, ncols=2)
    step = max(1, len(x) // 14)
    ax.set_xticks(x[::step], [chart.labels[i] for i in x[::step]], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(chart.ylabel)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    svg = buf.getvalue()
    return svg[svg.index("<svg"):]
