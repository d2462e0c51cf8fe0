"""``rules metrics``: MTTD, MTTA, MTTR, false-positive and escalation rates, interruptions (README "SRE metrics")."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from engine.cli import main
from engine.cli.options import NO_LOG_EXIT
from engine.report.insights_model import Report

window_options = [
    click.option("--since", help="window start: ISO date/time, or a duration back from --until (7d)"),
    click.option("--until", help="window end (exclusive): ISO date/time; default now"),
    click.option("--window", "length", default="7d", show_default=True, help="window length when --since is absent"),
    click.option("--tz", default="UTC", show_default=True, help="time zone for dates, buckets and hour classes"),
]


def with_window(f: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(window_options):
        f = option(f)
    return f


def fail(message: str, code: int = 1) -> None:
    click.echo(f"error: {message}", err=True)
    raise SystemExit(code)


def resolve_window(since: str | None, until: str | None, length: str, tz: str) -> tuple[float, float]:
    from engine.report.insights_window import window, zone

    try:
        return window(since, until, length, zone(tz))
    except ValueError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None


def console() -> Any:
    from rich.console import Console

    width = None if sys.stdout.isatty() else int(os.environ.get("COLUMNS", "120"))
    return Console(width=width, highlight=False, soft_wrap=False)


def emit(report: Report, fmt: str, out: Path | None) -> None:
    """Write the report in ``fmt`` to ``out`` or stdout (the terminal form always to stdout)."""
    from engine.report import insights_render as render

    if fmt == "table":
        render.terminal(report, console())
        return
    if fmt == "html":
        from engine.report.insights_html import page

        text = page(report)
    else:
        text = {"json": render.to_json, "csv": render.to_csv, "markdown": render.markdown}[fmt](report)
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        click.echo(f"wrote {out}", err=True)


@main.command()
@with_window
@click.option("--by", "by", multiple=True, type=click.Choice(["overall", "team", "service", "severity"]),
              help="groupings (repeatable; default overall, team, severity)")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv", "markdown"]), default="table",
              show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="write to this file instead of stdout")
@click.option("--rules", "rules", metavar="DIR", help="accepted like on every command; this one reads no rule files")
@click.option("--db", envvar="ESCALATION_DB", default="escalation.db", show_default=True,
              help="audit log sqlite file (env ESCALATION_DB)")
def metrics(since: str | None, until: str | None, length: str, tz: str, by: tuple[str, ...], fmt: str,
            out: Path | None, rules: str | None, db: str) -> None:
    """MTTD, MTTA, MTTR, false-positive and escalation rates against the brief's targets, per group.

    Example: rules metrics --since 2026-11-01 --until 2026-12-01 --by service --format markdown
    """
    from engine.report import metrics_report
    from engine.store.metrics_views import InsightsStore

    start, end = resolve_window(since, until, length, tz)
    try:
        with InsightsStore.open(db) as store:
            report = metrics_report.build(store, start, end, tz, by or ("overall", "team", "severity"))
    except FileNotFoundError as exc:
        fail(str(exc), NO_LOG_EXIT)
    except ValueError as exc:
        fail(str(exc))
    emit(report, fmt, out)
