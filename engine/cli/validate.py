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
@click.option("--strict", is_flag=True,
              help="an adapter the policy uses without its credentials in the environment is an error (pre-flight, CI)")
def validate(directory: str | None, rules: str | None, db: str, fmt: str, verbose: bool, strict: bool) -> None:
    """Validate every rule file; print each problem as file:line:col.

    Example: rules validate rules/ --format github
    """
    from dataclasses import replace

    from engine.compiler.validate import validate as run_validate

    root = rules_dir(directory or rules)
    policy, problems = run_validate(root)
    if strict:  # missing credentials for a used adapter: the page would be "not-configured" in production
        problems = [replace(d, severity="error") if d.code == "adapter-not-configured" else d for d in problems]
        if any(d.severity == "error" for d in problems):
            policy = None
    if fmt == "json" or problems:
        click.echo(diag.render(problems, fmt))
    if verbose:
        click.echo(diag.summary(problems), err=True)
    raise SystemExit(1 if policy is None else 0)
