"""``rules confirm``."""

from __future__ import annotations

import click

from engine.cli import main
from engine.cli.options import db_option, need_audit_log, unused_rules_option


@main.command()
@click.argument("event_id")
@click.option("--severity", required=True, type=click.Choice(["NONE", "MODERATE", "MAJOR", "CRITICAL"]),
              help="the severity the incident really had")
@click.option("--by", "by", required=True, help="who confirms it")
@click.option("--note", default="", help="why (free text)")
@unused_rules_option
@db_option
def confirm(event_id: str, severity: str, by: str, note: str, rules: str | None, db: str) -> None:
    """Record an operator's verdict on a decided event's severity (training data for 'rules train').

    Example: rules confirm INC-2025-002 --severity MODERATE --by alice --note "load test"
    """
    from engine.model.errors import AuditError
    from engine.store.audit import Audit

    need_audit_log(db)
    audit = Audit(db)
    try:
        row = audit.record_feedback(event_id, severity, by, note)
    except AuditError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(1) from None
    finally:
        audit.close()
    verb = "confirmed" if row["previous"] == severity else f"corrected from {row['previous']} to"
    click.echo(f"{event_id}: {verb} {severity} by {by}")
