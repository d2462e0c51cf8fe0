"""``rules incidents`` and ``rules incident show``: read the audit log (read-only) as an on-call view."""

from __future__ import annotations

import json
from typing import Any

import click

from engine.cli import main
from engine.cli.options import db_option, need_audit_log, unused_rules_option


def _need(db: str) -> None:
    need_audit_log(db)


@main.command()
@click.option("--open", "only_open", is_flag=True, help="only incidents not resolved")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@unused_rules_option
@db_option
def incidents(only_open: bool, fmt: str, rules: str | None, db: str) -> None:
    """List incidents: state (open | acknowledged | resolved), service, severity, last ack/resolve.

    Example: rules incidents --open
    """
    from engine.store.queries import incidents as read

    _need(db)
    rows = [r for r in read(db) if not only_open or r["state"] != "resolved"]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        u = r["last_update"]
        last = f"  {u['type']} by {u['by']} via {u['source']} at {u['at']}" if u else ""
        click.echo(f"{r['incident_id']:<32} {r['state']:<12} {r['severity']:<8} {r['service']:<20} "
                   f"opened {r['opened']}{last}")
    if not rows:
        click.echo("no incidents" + (" open" if only_open else ""))


@main.group()
def incident() -> None:
    """One incident.

    Example: rules incident show INC-2025-001
    """


@incident.command("show")
@click.argument("incident_id")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@unused_rules_option
@db_option
def show(incident_id: str, fmt: str, rules: str | None, db: str) -> None:
    """State, who was paged, who is paged next and when, acks/resolves, the rules' Git commit.

    Example: rules incident show INC-2025-001
    """
    from engine.store.queries import incident as read

    _need(db)
    view = read(db, incident_id)
    if view is None:
        click.echo(f"error: no incident {incident_id!r} in {db}", err=True)
        raise SystemExit(1)
    if fmt == "json":
        click.echo(json.dumps(view, indent=2))
        return
    click.echo("\n".join(render(view)))


def render(v: dict[str, Any]) -> list[str]:
    owner = v["owner"]
    lines = [f"incident {v['incident_id']}: {v['state']}", f"  service {v['service']}, severity {v['severity']}, "
             f"owner {owner.get('team', '?')}, opened {v['opened']}"]
    for h, commit in v["rules"].items():
        lines.append(f"  rules {h[:12]}: " + (f"git {commit}" if commit else "not from a Git work tree"))
    for u in v["updates"]:
        lines.append(f"  {u['type']} by {u['by']} via {u['source']} at {u['occurred_at']}"
                     + (f": {u['note']}" if u["note"] else ""))
    for a in v["actions"]:
        who = f" → {', '.join(a['targets'])}" if a["targets"] else ""
        result = a["outcome"] or "pending"
        step = f" step {a['step']}" if a["kind"] == "page" else ""
        lines.append(f"  {a['kind']:<11} {a['action']:<10}{step}{who}: {result}" + (
            f" ({a['detail'][:120]})" if a["detail"] else "") + f"  due {a['due_at']}")
    if v["next"]:
        n = v["next"][0]
        pagers = ", ".join(sorted({a["action"] for a in v["next"] if a["step"] == n["step"]}))
        lines.append(f"  next: step {n['step']} via {pagers} → {', '.join(n['targets'])} at {n['due_at']} "
                     "unless acknowledged")
    elif v["state"] == "open":
        lines.append("  next: nothing more is scheduled")
    else:
        lines.append(f"  next: nothing ({v['state']})")
    return lines
