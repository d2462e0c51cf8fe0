"""Options every command shares, and loading the rules once for the commands that need them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from engine.model import diagnostics as diag
from engine.resources import resource

PACKAGED_RULES = resource("rules")


def rules_dir(value: str | None) -> Path:
    """``--rules``, else ``./rules``, else the policy shipped with the package."""
    if value:
        return Path(value)
    local = Path("rules")
    return local if local.is_dir() else PACKAGED_RULES


def load_compiled(rules: Path, quiet_warnings: bool = False) -> Any:
    from engine.compiler.compile import compile_policy
    from engine.compiler.validate import validate

    policy, problems = validate(rules)
    warnings = [d for d in problems if d.severity == "warning"]
    if policy is None:
        click.echo(diag.render(problems), err=True)
        raise SystemExit(1)
    if warnings and not quiet_warnings:
        click.echo(diag.render(warnings), err=True)
    return compile_policy(policy)


rules_option = click.option("--rules", "rules", metavar="DIR",
                            help="rule files (default ./rules, else the shipped policy)")
db_option = click.option("--db", envvar="ESCALATION_DB", default="escalation.db", show_default=True,
                         help="audit log sqlite file (env ESCALATION_DB)")
# Every command takes --rules and --db (the interface other tools rely on), even one that does not read them.
unused_rules_option = click.option("--rules", "rules", metavar="DIR",
                                   help="accepted like on every command; this one reads no rule files")
unused_db_option = click.option("--db", envvar="ESCALATION_DB", default="escalation.db", show_default=True,
                                help="accepted like on every command (env ESCALATION_DB); this one reads no audit log")
model_option = click.option("--model", "model", metavar="FILE.skops", envvar="ESCALATION_MODEL",
                            help="severity model (env ESCALATION_MODEL; default the shipped models/severity.skops)")


NO_LOG_EXIT = 3  # a runtime failure (engine/cli/__init__.py), the same for every command that reads the log


def need_audit_log(db: str) -> None:
    """Exit 3 with one line when the audit log a command reads is missing: a mistyped --db never creates one."""
    if db != ":memory:" and not Path(db).is_file():
        from engine.store.readonly import no_audit_log

        click.echo(f"error: {no_audit_log(db)}", err=True)
        raise SystemExit(NO_LOG_EXIT)


def listen_address(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[str, int] | None:
    from engine.run.daemon.http import parse_listen

    if value is None:
        return None
    try:
        return parse_listen(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
