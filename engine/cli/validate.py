"""``rules validate``."""

from __future__ import annotations

import click

from engine.cli import main
from engine.cli.options import db_option, rules_dir, rules_option
from engine.model import diagnostics as diag


@main.command()
@click.argument("directory", required=False)
@rules_option
@db_option
@click.option("--format", "fmt", type=click.Choice(["text", "github", "json"]), default="text", show_default=True)
@click.option("-v", "--verbose", is_flag=True, help="print a summary line on stderr")
def validate(directory: str | None, rules: str | None, db: str, fmt: str, verbose: bool) -> None:
    """Validate every rule file; print each problem as file:line:col.

    Example: rules validate rules/ --format github
    """
    from engine.compiler.validate import validate as run_validate

    root = rules_dir(directory or rules)
    policy, problems = run_validate(root)
    if fmt == "json" or problems:
        click.echo(diag.render(problems, fmt))
    if verbose:
        click.echo(diag.summary(problems), err=True)
    raise SystemExit(1 if policy is None else 0)
