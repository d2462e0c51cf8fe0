"""``rules simulate``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from engine.cli import main
from engine.cli.options import db_option, load_compiled, model_option, rules_dir, rules_option


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@rules_option
@db_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--check", is_flag=True, help="compare with each event's 'expect' block; exit 1 on a mismatch")
@click.option("--script", "script_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="acks/resolves to play on the virtual clock, e.g. [{at: '+4m', ack: bob}] (engine/run/replay.py)")
@model_option
def simulate(paths: tuple[Path, ...], rules: str | None, db: str, fmt: str, check: bool, model: str | None,
             script_file: Path | None) -> None:
    """Run events through the rules with actions in dry-run and show what would happen.

    Example: rules simulate sample-events/ --check --script acks.yaml
    """
    from engine.run.replay import load_script
    from engine.run.simulate import render_text

    try:
        script = load_script(script_file) if script_file else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--script") from None
    from engine.run.simulate import simulate as run_simulate

    compiled = load_compiled(rules_dir(rules), quiet_warnings=fmt == "json")
    outcomes = run_simulate(compiled, list(paths), model=model, script=script)
    if fmt == "json":
        click.echo(json.dumps([d for o in outcomes for d in o.decisions], indent=2, ensure_ascii=False, default=str))
        if not check:  # a rejected file has no decision in the list: say so (stderr keeps stdout one document)
            for o in outcomes:
                if o.error:
                    click.echo(f"{o.file}: rejected: {o.error}", err=True)
    else:
        click.echo(render_text(outcomes))
    if check:
        # counted per event with an expect block; a file rejected at intake counts as one failure
        passed = sum(ok for o in outcomes for ok in o.verdicts.values())
        failed = sum(not ok for o in outcomes for ok in o.verdicts.values()) + sum(1 for o in outcomes if o.error)
        for o in outcomes:
            for m in o.mismatches + ([f"rejected: {o.error}"] if o.error else []):
                click.echo(f"FAIL {o.file}: {m}", err=True)
        click.echo(f"{passed} passed, {failed} failed", err=True)
        raise SystemExit(1 if failed else 0)
    if any(o.error for o in outcomes):  # a rejected file is bad input, as in rules run --once: the others shown
        raise SystemExit(1)
