"""``rules timeline INC-…``: one incident's timeline (engine/report/timeline.py), Markdown by default."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

db_option = click.option("--db", envvar="ESCALATION_DB", default="escalation.db", show_default=True,
                         help="audit log sqlite file (env ESCALATION_DB)")
rules_option = click.option("--rules", "rules", metavar="DIR",
                            help="rule files whose hash the decisions recorded (default ./rules, else the shipped "
                                 "policy): used to explain the rules that did not fire")


def severity_rules(rules: str | None) -> tuple[Any, str | None]:
    """(severity rules, rules hash) of the rule files, or (None, None) when they do not load."""
    from engine.cli.options import rules_dir
    from engine.compiler.validate import validate

    policy, _ = validate(rules_dir(rules))
    return (policy.severity_rules, policy.digest) if policy is not None else (None, None)


@click.command()
@click.argument("incident_id")
@click.option("--format", "fmt", type=click.Choice(["markdown", "json", "html"]), default="markdown",
              show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="write here, not stdout")
@rules_option
@db_option
def timeline(incident_id: str, fmt: str, output: Path | None, rules: str | None, db: str) -> None:
    """Every step of one incident with its time since detection, the resolution path and the cause.

    Example: rules timeline INC-2025-001 --format html -o inc.html
    """
    from engine.report.timeline import build
    from engine.report.timeline_render import render

    loaded, digest = severity_rules(rules)
    t = build(db, incident_id, rules=loaded, digest=digest)
    if t is None:
        click.echo(f"error: no incident {incident_id!r} in {db}{_event_hint(db, incident_id)}", err=True)
        raise SystemExit(1)
    text = render(t, fmt)
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        click.echo(f"error: cannot write {output}: {exc.strerror}", err=True)
        raise SystemExit(3) from None


def _event_hint(db: str, event_id: str) -> str:
    """When the id names an event that opened no incident: what became of it, and where to read why."""
    from engine.store.audit_queries import decision
    from engine.store.readonly import connect_ro

    conn = connect_ro(db)
    try:
        row = decision(conn, event_id) if event_id else None
    finally:
        conn.close()
    if row is None:
        return ""
    sup = row["suppression"]
    became = (f"{sup['outcome']} by {sup['mechanism']}" + (f", incident {sup['incident_id']}" if sup["incident_id"]
                                                            else "")) if sup else "opened no incident"
    return f"; it is an event ({row['severity']}, {became}): see rules audit why {event_id}"


from engine.cli import main  # noqa: E402

main.add_command(timeline)
