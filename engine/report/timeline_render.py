"""Renderings of a timeline (engine/report/timeline.py): Markdown (default), JSON, and one HTML file.

The HTML is self-contained (inline CSS, no script, no network) and every value in it is escaped.
"""

from __future__ import annotations

import html
import json
from typing import Any

from engine.report.timeline import offset

FORMATS = ("markdown", "json", "html")


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _subitems(e: dict[str, Any]) -> list[str]:
    """Lines under an entry: the classification's rules, an action's attempts."""
    d = e["detail"]
    lines: list[str] = []
    if e["kind"] == "classified":
        lines.append(f"rules hash `{str(d['rules_hash'])[:12]}`; owner {d.get('team')} "
                     f"({', '.join(d.get('primary') or [])}), level {d.get('level')}; {d['note']}")
        for nd in d.get("not_decided", []):
            lines.append(f"not decided: {nd['rule']} ({nd['severity']}): "
                         + (nd["first_failure"] or nd["why"]))
    elif e["kind"] in ("page", "escalation", "notification", "remediation", "upstream-ack", "upstream-resolve"):
        for a in d["attempts"]:
            status = f" (HTTP {a['status']})" if a["status"] else ""
            lines.append(f"attempt {a['attempt']} at {a['at']}: {'ok' if a['ok'] else 'failed'}{status}"
                         + (f": {a['detail']}" if a["detail"] else ""))
        if d["duration_s"] is not None and e["kind"] == "remediation":
            params = f"; params {json.dumps(d['params'])}" if d["params"] else ""
            lines.append(f"duration {d['duration_s']} s{params}")
    return lines


def markdown(t: dict[str, Any]) -> str:
    out = [f"# Timeline of {t['incident_id']}", "",
           f"{t['severity']} on {t['service']}, detected {t['detected_at']}, status **{t['status']}**.", "",
           "| offset | at | step | what |", "|---|---|---|---|"]
    for e in t["entries"]:
        out.append(f"| {offset(e['offset_s'])} | {e['at']} | {e['kind']} | {_md(e['summary'])} |")
        out += [f"|  |  |  | ↳ {_md(line)} |" for line in _subitems(e)]
    out += ["", "## Resolution path", "", " → ".join(t["resolution_path"]), "", "## Cause (from recorded data)", "",
            t["cause"], ""]
    return "\n".join(out)


_CSS = ("body{font-family:system-ui,sans-serif;margin:2rem;max-width:80rem}table{border-collapse:collapse;width:100%}"
        "td,th{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}"
        "td.o{white-space:nowrap;font-variant-numeric:tabular-nums}ul{margin:.2rem 0 0 1rem;padding:0}"
        ".k-classified{background:#eef}.k-acked,.k-resolved{background:#efe}.k-escalation{background:#fee}"
        "@media print{body{margin:0}}")


def html_page(t: dict[str, Any]) -> str:
    esc = html.escape
    rows = []
    for e in t["entries"]:
        subs = "".join(f"<li>{esc(line)}</li>" for line in _subitems(e))
        rows.append(f'<tr class="k-{esc(e["kind"])}"><td class="o">{esc(offset(e["offset_s"]))}</td>'
                    f'<td class="o">{esc(str(e["at"]))}</td><td>{esc(e["kind"])}</td>'
                    f'<td>{esc(e["summary"])}{"<ul>" + subs + "</ul>" if subs else ""}</td></tr>')
    path = " → ".join(esc(p) for p in t["resolution_path"])
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Timeline of {esc(t["incident_id"])}'
            f"</title><style>{_CSS}</style></head><body><h1>Timeline of {esc(t['incident_id'])}</h1>"
            f"<p>{esc(t['severity'])} on {esc(str(t['service']))}, detected {esc(str(t['detected_at']))}, "
            f"status <strong>{esc(t['status'])}</strong>.</p><table><thead><tr><th>offset</th><th>at</th>"
            f"<th>step</th><th>what</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
            f"<h2>Resolution path</h2><p>{path}</p><h2>Cause (from recorded data)</h2><p>{esc(t['cause'])}</p>"
            "</body></html>\n")


def render(t: dict[str, Any], fmt: str = "markdown") -> str:
    if fmt == "json":
        return json.dumps(t, indent=2, ensure_ascii=False, default=str) + "\n"
    if fmt == "html":
        return html_page(t)
    if fmt == "markdown":
        return markdown(t)
    raise ValueError(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")
