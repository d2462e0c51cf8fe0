"""``rules analyze``: never-firing and shadowed rules, and how each changed condition relates to its old form."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import click

from engine.cli import main


@main.command("analyze")
@click.option("--base", "base_ref", metavar="REF", help="compare with the rules directory at this git ref")
@click.option("--baseline", type=click.Path(exists=True, file_okay=False, path_type=Path), metavar="DIR",
              help="compare with this rules directory")
@click.option("--rules", "rules", metavar="DIR", help="rule files (default ./rules, else the shipped policy)")
@click.option("--db", envvar="ESCALATION_DB", default="escalation.db", show_default=True,
              help="accepted like on every command (env ESCALATION_DB); this one reads no audit log")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def command(base_ref: str | None, baseline: Path | None, rules: str | None, db: str, fmt: str) -> None:
    """Static analysis of the rules (and of a change): exit 1 when a rule can never fire.

    Example: rules analyze --base origin/main
    """
    from engine.cli.impact import export_rules
    from engine.cli.options import load_compiled, rules_dir
    from engine.run.review.static import analyze, render

    if base_ref and baseline:
        raise click.UsageError("give at most one of --base REF or --baseline DIR")
    head_dir = rules_dir(rules)
    head = load_compiled(head_dir, quiet_warnings=True)
    base = None
    with tempfile.TemporaryDirectory(prefix="rules-base-") as tmp:
        if base_ref:
            base = load_compiled(export_rules(head_dir, base_ref, Path(tmp)), quiet_warnings=True)
        elif baseline:
            base = load_compiled(baseline, quiet_warnings=True)
    findings = analyze(head, base)
    if fmt == "json":
        click.echo(json.dumps([f.as_dict() for f in findings], indent=2, default=str))
    else:
        click.echo(render(findings))
    raise SystemExit(1 if any(f.kind in ("never-fires", "shadowed") for f in findings) else 0)
