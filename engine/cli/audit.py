"""``rules audit firings|why|paged``: what an auditor asks of the log, without writing SQL.

Every subcommand reads the audit log read-only (engine/store/audit_queries.py); ``--format`` gives
the same table/json/jsonl/csv/markdown renderings as ``rules history``.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any

import click

from engine.cli.history import _when, db_option, unused_rules_option
from engine.cli.timeline import rules_option, severity_rules

FORMATS = ("table", "json", "jsonl", "csv", "markdown")
format_option = click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)


def _emit(rows: list[dict[str, Any]], fmt: str, empty: str) -> None:
    from engine.report.history import render, table

    if fmt != "table":
        sys.stdout.write(render(rows, fmt, columns=list(rows[0]) if rows else None))
        return
    if not rows:
        click.echo(empty, err=True)
        return
    from rich.console import Console

    console = Console()
    console.print(table(rows, list(rows[0]), width=console.width))


def _conn(db: str) -> Any:
    from engine.store.readonly import connect_ro

    return connect_ro(db)


@click.group()
def audit() -> None:
    """Auditor queries and the tamper-evident ledger: firings, why, paged, verify, prove.

    Example: rules audit why INC-2025-001 && rules audit verify --keys keys.txt
    """


@audit.command("firings")
@click.option("--rule", help="rule id or stage:id")
@click.option("--rules-hash", "rules_hash", metavar="PREFIX")
@click.option("--stage", type=click.Choice(["severity", "route", "notify", "remediate"]))
@click.option("--since", callback=_when, metavar="WHEN", help="event time at or after: 7d, 12h, or RFC 3339")
@click.option("--until", callback=_when, metavar="WHEN", help="event time before")
@click.option("--each", is_flag=True, help="one row per firing instead of counts per rule and rules hash")
@click.option("--limit", type=click.IntRange(min=1))
@format_option
@unused_rules_option
@db_option
def firings_cmd(rule: str | None, rules_hash: str | None, stage: str | None, since: float | None,
                until: float | None, each: bool, limit: int | None, fmt: str, rules: str | None, db: str) -> None:
    """Rule firings: counts per rule and rules hash (first and last event time), or each one."""
    from engine.store.audit_queries import firings

    conn = _conn(db)
    try:
        rows = firings(conn, rule=rule, rules_hash=rules_hash, stage=stage, since=since, until=until,
                       grouped=not each, limit=limit)
    finally:
        conn.close()
    _emit(rows, fmt, "no firings match")


@audit.command("why")
@click.argument("event_id")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@rules_option
@db_option
def why_cmd(event_id: str, fmt: str, rules: str | None, db: str) -> None:
    """Why EVENT_ID got its severity, and why each other severity rule did not decide."""
    from engine.run.audit_why import why
    from engine.store.audit_queries import decision

    conn = _conn(db)
    try:
        row = decision(conn, event_id)
    finally:
        conn.close()
    if row is None:
        click.echo(f"error: no decision for event {event_id!r} in {db}", err=True)
        raise SystemExit(1)
    loaded, digest = severity_rules(rules)
    redacted = str(row["fact"] or "").startswith("redacted:")  # `rules history redact` left only its hash
    fact = json.loads(row["fact"]) if row["fact"] and not redacted else None
    out = why(row, fact, row["deciding_rule"], loaded, digest)
    out["incident_id"] = row["incident_id"]
    out["suppression"] = row["suppression"]
    if fmt == "json":
        click.echo(json.dumps(out, indent=2, ensure_ascii=False))
        return
    model = out["model"]
    click.echo(f"{event_id}: {out['severity']} (incident {row['incident_id'] or 'none'}), "
               f"rules hash {str(out['rules_hash'])[:12]}")
    sup = row["suppression"]
    if sup and sup["outcome"] != "opened":  # why a decided severity paged nobody (or joined another incident)
        click.echo(f"  {sup['outcome']} by {sup['mechanism']}: {sup['reason']}")
    click.echo(f"  deciding rule: {out['deciding_rule'] or 'none recorded'}"
               + (f" — {out['description']}" if out.get("description") else ""))
    for line in out.get("conditions", []):
        click.echo(f"    {line}")
    if model["label"] or model["version"]:
        shown = f"{model['label']} ({model['confidence']:.3f})" if model["label"] else model["version"]
        click.echo(f"  model: {shown}")
    for nd in out.get("not_decided", []):
        click.echo(f"  {nd['rule']} ({nd['severity']}): {nd['first_failure'] or nd['why']}")
    click.echo(f"  ({out['note']})")


@audit.command("paged")
@click.option("--since", callback=_when, metavar="WHEN", help="due at or after: 7d, 12h, or RFC 3339")
@click.option("--until", callback=_when, metavar="WHEN", help="due before")
@click.option("--who", help="only pages to this target")
@click.option("--rules-hash", "rules_hash", metavar="PREFIX")
@click.option("--limit", type=click.IntRange(min=1))
@format_option
@unused_rules_option
@db_option
def paged_cmd(since: float | None, until: float | None, who: str | None, rules_hash: str | None,
              limit: int | None, fmt: str, rules: str | None, db: str) -> None:
    """Who was paged, when, by which adapter, step and rules version, and who acked."""
    from engine.store.audit_queries import paged

    def text(epoch: float | None) -> str | None:
        if epoch is None:
            return None
        return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    conn = _conn(db)
    try:
        rows = paged(conn, since=text(since), until=text(until), who=who, rules_hash=rules_hash, limit=limit)
    finally:
        conn.close()
    for r in rows:
        r["targets"] = json.loads(r["targets"] or "[]")
    _emit(rows, fmt, "no pages match")


@audit.command("metadata")
@unused_rules_option
@db_option
def metadata_cmd(rules: str | None, db: str) -> None:
    """datasette metadata (table and column descriptions, canned queries) for --db, on stdout.

    Example: rules audit metadata > metadata.json && datasette --immutable escalation.db -m metadata.json
    """
    click.echo(json.dumps(datasette_metadata(db), indent=2, ensure_ascii=False))


def datasette_metadata(db: str) -> dict[str, Any]:
    """The shipped metadata (engine/report/audit_datasette.json) under the database name datasette gives ``db``."""
    from importlib.resources import files
    from pathlib import Path

    meta = json.loads(files("engine.report").joinpath("audit_datasette.json").read_text(encoding="utf-8"))
    meta["databases"] = {Path(db).stem: meta["databases"]["escalation"]}
    return meta


from engine.cli import main  # noqa: E402

main.add_command(audit)
