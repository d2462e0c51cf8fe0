"""``rules anomalies trends|score|heatmap|summary`` (README "Anomaly intelligence")."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from engine.cli import main
from engine.cli.metrics import emit, fail, resolve_window, with_window
from engine.cli.options import NO_LOG_EXIT

FORMATS = click.Choice(["table", "json", "csv", "markdown", "html"])


def common(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option("--db", envvar="ESCALATION_DB", default="escalation.db", show_default=True,
                     help="audit log sqlite file (env ESCALATION_DB)")(f)
    f = click.option("--rules", "rules", metavar="DIR",
                     help="accepted like on every command; this one reads no rule files")(f)
    f = click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
                     help="write to this file instead of stdout")(f)
    return with_window(f)


@contextmanager
def store(db: str) -> Iterator[Any]:
    from engine.store.metrics_views import InsightsStore

    try:
        with InsightsStore.open(db) as s:
            yield s
    except FileNotFoundError as exc:
        fail(str(exc), NO_LOG_EXIT)
    except ValueError as exc:
        fail(str(exc))


@contextmanager
def progress() -> Iterator[Callable[[str], None]]:
    """A spinner on stderr while long work runs, only when stderr is a terminal."""
    if not sys.stderr.isatty():
        yield lambda _: None
        return
    from rich.console import Console

    with Console(stderr=True).status("working…") as status:
        yield lambda text: status.update(f"{text}…")


@main.group()
def anomalies() -> None:
    """Anomaly intelligence over the audit log: trends, risk score, heatmap, executive summary.

    Example: rules anomalies summary --format html --out report.html
    """


@anomalies.command()
@common
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
def trends(since: str | None, until: str | None, length: str, tz: str, fmt: str, out: Path | None,
           rules: str | None, db: str) -> None:
    """Rate surges, rate shifts, same-hour recurrence, repeated causes up to --until (90 days back).

    Example: rules anomalies trends --until 2026-12-01 --format json
    """
    from engine.report import anomaly_report

    _, end = resolve_window(since, until, length, tz)
    with store(db) as s, progress():
        report = anomaly_report.trends(s, end, tz)
    emit(report, fmt, out)


@anomalies.command()
@common
@click.option("--cap", type=click.FloatRange(min=0, min_open=True), default=10.0, show_default=True,
              help="raw score that maps to 100")
@click.option("--top", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
def score(since: str | None, until: str | None, length: str, tz: str, cap: float, top: int, fmt: str,
          out: Path | None, rules: str | None, db: str) -> None:
    """The brief's risk score (0–100) per service and overall, with its percentile among past windows.

    Example: rules anomalies score --window 24h --cap 10
    """
    from engine.report import anomaly_report

    start, end = resolve_window(since, until, length, tz)
    with store(db) as s:
        report = anomaly_report.score(s, start, end, tz, cap, top)
    emit(report, fmt, out)


@anomalies.command()
@common
@click.option("--bucket", default="24h", show_default=True, help="bucket length (1h, 6h, 24h, 7d …)")
@click.option("--top", type=click.IntRange(min=1), default=30, show_default=True, help="services shown")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
def heatmap(since: str | None, until: str | None, length: str, tz: str, bucket: str, top: int, fmt: str,
            out: Path | None, rules: str | None, db: str) -> None:
    """Services × time, one glyph per bucket by its worst severity; --format html writes an SVG page.

    Example: rules anomalies heatmap --window 7d --format html --out heatmap.html
    """
    from engine.report import anomaly_report
    from engine.report.insights_window import duration

    start, end = resolve_window(since, until, length, tz)
    try:
        hours = duration(bucket) / 3600
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--bucket") from None
    if (end - start) / (hours * 3600) > 2000:
        raise click.BadParameter("more than 2,000 buckets: use a longer --bucket", param_hint="--bucket")
    with store(db) as s:
        report = anomaly_report.heatmap_report(s, start, end, tz, hours, top)
    emit(report, fmt, out)


@anomalies.command()
@common
@click.option("--cap", type=click.FloatRange(min=0, min_open=True), default=10.0, show_default=True)
@click.option("--top", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--format", "fmt", type=FORMATS, default="markdown", show_default=True)
def summary(since: str | None, until: str | None, length: str, tz: str, cap: float, top: int, fmt: str,
            out: Path | None, rules: str | None, db: str) -> None:
    """Executive summary: top services by score, trends, the metrics table, automation, heatmap.

    Example: rules anomalies summary --window 7d --format html --out summary.html
    """
    from engine.report import summary as summary_report

    start, end = resolve_window(since, until, length, tz)
    with store(db) as s, progress() as step:
        report = summary_report.build(s, start, end, tz, cap, top, step)
    emit(report, fmt, out)
