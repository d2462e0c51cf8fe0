"""``rules impact`` reports: Markdown for the pull request, HTML for the artifact, JSON for tools.

The Markdown stays under GitHub's 1 MiB job-summary and 65,536-character comment limits: the
table of change kinds and the pages per rule come first, the per-event list goes inside
``<details>`` and is cut at :data:`MAX_MARKDOWN` characters with a line saying how many rows
were left out (the JSON and HTML reports have them all).
"""

from __future__ import annotations

import html
from typing import Any

MAX_MARKDOWN = 60_000  # a sticky PR comment holds at most 65,536 characters
MARKER = "<!-- rules-impact -->"
LABELS = {
    "severity": "severity", "rule": "deciding rule", "owner": "owner", "route": "route (level, pagers)",
    "pages_added": "pages added", "pages_removed": "pages removed", "escalation_timing": "escalation timing",
    "remediation": "remediation", "channels": "channels", "suppressed": "newly suppressed",
    "unsuppressed": "no longer suppressed",
}


def _side(s: dict[str, Any] | None) -> str:
    if s is None:
        return "not decided"
    pages = "+".join(s["pages"]) or "no page"
    return f"{s['severity']} ({s['rule']}), {s['owner']}, {pages}, {s['remediation'] or 'no remediation'}" + (
        f", suppressed: {s['suppressed']}" if s["suppressed"] != "none" else "")


def markdown(doc: dict[str, Any], title: str, problems: list[str] | None = None) -> str:
    lines = [MARKER, f"### Rules impact: {title}", "",
             f"{doc['events']} recorded event(s) replayed through both rule sets; "
             f"**{doc['changed_events']}** would be decided differently. Nothing was sent.", ""]
    for p in problems or []:
        lines.append(f"> :x: **over budget** — {p}")
    if problems:
        lines.append("")
    if doc["changes"]:
        lines += ["| change | events | examples |", "|---|---:|---|"]
        for kind, c in doc["changes"].items():
            lines.append(f"| {LABELS.get(kind, kind)} | {c['count']} | {', '.join(f'`{e}`' for e in c['examples'])} |")
    else:
        lines.append("No decision changes.")
    lines += ["", "| deciding rule | pages (base) | pages (head) |", "|---|---:|---:|"]
    for rule, n in doc["pages_per_rule"].items():
        mark = " :arrow_up:" if n["head"] > n["base"] else (" :arrow_down:" if n["head"] < n["base"] else "")
        lines.append(f"| `{rule}` | {n['base']} | {n['head']}{mark} |")
    head = "\n".join(lines)
    rows = [f"| `{c['event_id']}` | {', '.join(c['kinds'])} | {_side(c['base'])} | {_side(c['head'])} |"
            for c in doc["changed"]]
    if not rows:
        return head + "\n"
    body, shown = [], 0
    budget = MAX_MARKDOWN - len(head) - 400
    for row in rows:
        if budget - len(row) - 1 < 0:
            break
        body.append(row)
        budget -= len(row) + 1
        shown += 1
    cut = (f"\n\n{len(rows) - shown} more changed event(s) not shown; see the JSON or HTML report."
           if shown < len(rows) else "")
    return (head + f"\n\n<details><summary>{len(rows)} changed event(s)</summary>\n\n"
            "| event | changes | base | head |\n|---|---|---|---|\n" + "\n".join(body) + cut + "\n\n</details>\n")


def html_report(doc: dict[str, Any], title: str) -> str:
    e = html.escape
    rows = "".join(f"<tr><td>{e(c['event_id'])}</td><td>{e(', '.join(c['kinds']))}</td><td>{e(_side(c['base']))}"
                   f"</td><td>{e(_side(c['head']))}</td></tr>" for c in doc["changed"])
    kinds = "".join(f"<tr><td>{e(LABELS.get(k, k))}</td><td>{c['count']}</td>"
                    f"<td>{e(', '.join(c['examples']))}</td></tr>" for k, c in doc["changes"].items())
    pages = "".join(f"<tr><td>{e(r)}</td><td>{n['base']}</td><td>{n['head']}</td></tr>"
                    for r, n in doc["pages_per_rule"].items())
    return ("<!doctype html><html><head><meta charset='utf-8'><title>Rules impact</title><style>"
            "body{font-family:sans-serif}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px}"
            f"</style></head><body><h1>Rules impact: {e(title)}</h1>"
            f"<p>{doc['events']} events replayed; {doc['changed_events']} decided differently.</p>"
            f"<h2>Changes</h2><table><tr><th>change</th><th>events</th><th>examples</th></tr>{kinds}</table>"
            f"<h2>Pages per deciding rule</h2><table><tr><th>rule</th><th>base</th><th>head</th></tr>{pages}</table>"
            f"<h2>Changed events</h2><table><tr><th>event</th><th>changes</th><th>base</th><th>head</th></tr>{rows}"
            "</table></body></html>\n")


def text(doc: dict[str, Any]) -> str:
    lines = [f"{doc['events']} event(s) replayed, {doc['changed_events']} decided differently"]
    for kind, c in doc["changes"].items():
        lines.append(f"  {LABELS.get(kind, kind):<22} {c['count']:>6}  e.g. {', '.join(c['examples'])}")
    lines.append("pages per deciding rule (base → head):")
    for rule, n in doc["pages_per_rule"].items():
        lines.append(f"  {rule:<40} {n['base']:>6} → {n['head']}")
    return "\n".join(lines)
