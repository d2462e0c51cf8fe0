"""``rules history list|latest|show|export``: the incident history (engine/report/history.py) on the command line.

Every subcommand reads the audit log read-only; the same functions are importable from Python.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from engine.cli.options import need_audit_log
from engine.store.history_queries import SEVERITY_RANK, STATUSES, Filters

# The options every command takes (as in engine/cli.py; not imported from it, which imports this file).
db_option = click.option("--db", envvar="ESCALATION_DB", default="escalation.db", show_default=True,
                         help="audit log sqlite file (env ESCALATION_DB)")
unused_rules_option = click.option("--rules", "rules", metavar="DIR",
                                   help="accepted like on every command; this one reads no rule files")

MACHINE = ("json", "jsonl", "csv", "markdown")


def _when(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    from engine.report.history import parse_when

    if value is None:
        return None
    try:
        return parse_when(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def filter_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The history filters, shared by list, latest and export."""
    options = [
        click.option("--severity", type=click.Choice(list(SEVERITY_RANK)), help="highest severity of the incident"),
        click.option("--service"),
        click.option("--team"),
        click.option("--owner", help="primary owner (e.g. alice@company.com)"),
        click.option("--status", type=click.Choice(STATUSES)),
        click.option("--since", callback=_when, metavar="WHEN", help="first event at or after: 7d, 12h, or RFC 3339"),
        click.option("--until", callback=_when, metavar="WHEN", help="first event before: 7d, 12h, or RFC 3339"),
        click.option("--rule", help="a rule that fired for one of its events (id or stage:id)"),
        click.option("--rules-hash", "rules_hash", metavar="PREFIX", help="decided by this rules version"),
        click.option("--outcome", help="an action of the incident ended so (ok, failed, not-configured, "
                                       "cancelled, pending)"),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _filters(kw: dict[str, Any]) -> Filters:
    return Filters(**{k: kw.pop(k) for k in list(kw) if k in Filters.__dataclass_fields__})


def _emit(rows: list[dict[str, Any]], fmt: str) -> None:
    from engine.report.history import render, table

    if fmt == "table":
        from rich.console import Console

        if not rows:
            click.echo("no incidents match", err=True)
            return
        console = Console()
        console.print(table(rows, width=console.width))
        return
    sys.stdout.write(render(rows, fmt))


format_option = click.option("--format", "fmt", type=click.Choice(["table", *MACHINE]), default="table",
                             show_default=True)


@click.group()
def history() -> None:
    """Incident history: one row per incident, read from the audit log.

    Example: rules history latest 5 && rules history list --status open --since 7d --format json
    """


@history.command("list")
@filter_options
@click.option("--limit", type=click.IntRange(min=1), default=None, help="at most this many (newest first)")
@format_option
@unused_rules_option
@db_option
def list_(fmt: str, limit: int | None, rules: str | None, db: str, **kw: Any) -> None:
    """Incidents matching the filters, newest first."""
    from engine.report.history import list_incidents

    _emit(list_incidents(db, _filters(kw), limit), fmt)


@history.command()
@click.argument("n", type=click.IntRange(min=1), default=10)
@filter_options
@format_option
@unused_rules_option
@db_option
def latest(n: int, fmt: str, rules: str | None, db: str, **kw: Any) -> None:
    """The N newest incidents (default 10)."""
    from engine.report.history import latest as latest_rows

    _emit(latest_rows(db, n, _filters(kw)), fmt)


@history.command()
@click.argument("incident_id")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@unused_rules_option
@db_option
def show(incident_id: str, fmt: str, rules: str | None, db: str) -> None:
    """One incident: every history field and its decisions."""
    import json

    from engine.report.history import show as show_row

    row = show_row(db, incident_id)
    if row is None:
        click.echo(f"error: no incident {incident_id!r} in {db}", err=True)
        raise SystemExit(1)
    if fmt == "json":
        click.echo(json.dumps(row, indent=2, ensure_ascii=False))
        return
    width = max(len(k) for k in row)
    for key, value in row.items():
        if key == "decisions":
            continue
        shown = ", ".join(map(str, value)) if isinstance(value, list) else ("" if value is None else value)
        click.echo(f"{key:<{width}}  {shown}")
    click.echo("decisions:")
    for d in row["decisions"]:
        click.echo(f"  {d['timestamp']}  {d['event_id']}  {d['severity']}  {', '.join(d['fired_rules'])}")


@history.command()
@filter_options
@click.option("--format", "fmt", type=click.Choice(MACHINE), default="jsonl", show_default=True)
@unused_rules_option
@db_option
def export(fmt: str, rules: str | None, db: str, **kw: Any) -> None:
    """Every matching incident, for machines (default JSON Lines)."""
    from engine.report.history import list_incidents

    _emit(list_incidents(db, _filters(kw)), fmt)


@history.command()
@click.option("--older-than", "older_than", default="90d", show_default=True, callback=_when, metavar="WHEN",
              help="prune resolved incidents whose first event is before this: a duration (90d) or RFC 3339 time")
@click.option("--batch", type=click.IntRange(min=1), default=500, show_default=True,
              help="incidents per transaction")
@unused_rules_option
@db_option
def prune(older_than: float, batch: int, rules: str | None, db: str) -> None:
    """Remove resolved incidents older than the cut, after writing daily per-service rollups.

    Open and acked incidents are never touched; the run records itself and ends with a signed prune
    checkpoint, so `rules audit verify` still passes. Example: rules history prune --older-than 90d
    """

    from engine.store.audit import Audit
    from engine.store.retention import prune as run_prune

    need_audit_log(db)
    log = Audit(db)
    try:
        out = run_prune(log, older_than, batch=batch)
    finally:
        log.close()
    click.echo(f"pruned {out['incidents']} incident(s) and {out['loose_decisions']} decision(s) without one: "
               f"{out['rows']} row(s) in {out['seconds']} s; {out['rollups']} rollup row(s) kept (run {out['run']})")


@history.command()
@click.option("--older-than", "older_than", default=None, callback=_when, metavar="WHEN",
              help="redact the events of resolved incidents whose first event is before this (90d, RFC 3339)")
@click.option("--event", "event_ids", multiple=True, metavar="ID",
              help="redact this event (of a resolved incident, or of none); repeatable")
@click.option("--batch", type=click.IntRange(min=1), default=500, show_default=True, help="events per transaction")
@unused_rules_option
@db_option
def redact(older_than: float | None, event_ids: tuple[str, ...], batch: int, rules: str | None, db: str) -> None:
    """Replace the payloads of old (or named) events by their SHA-256, keeping every row and the ledger valid.

    The event payload, its facts, its actions' intents and their attempts' and results' details become
    "redacted:sha256:<hex>"; decisions, pages and times stay. Open and acked incidents are never touched;
    `rules audit verify` still passes. Example: rules history redact --older-than 30d
    """

    from engine.store.audit import Audit
    from engine.store.redaction import RedactError
    from engine.store.redaction import redact as run_redact

    if (older_than is None) == (not event_ids):
        click.echo("error: give --older-than WHEN or --event ID (not both)", err=True)
        raise SystemExit(2)
    need_audit_log(db)
    log = Audit(db)
    try:
        out = run_redact(log, older_than, list(event_ids), batch=batch)
    except RedactError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(1) from None
    finally:
        log.close()
    note = f"; {out['skipped']} cell(s) sealed before per-column hashes left as they are" if out["skipped"] else ""
    click.echo(f"redacted {out['cells']} cell(s) of {out['events']} event(s) in {out['seconds']} s "
               f"(run {out['run']}){note}")


from engine.cli import main  # noqa: E402

main.add_command(history)
