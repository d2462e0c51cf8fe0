"""``rules explain EVENT [--rule ID]``: every rule matched or not, and why not."""

from __future__ import annotations

import json
from pathlib import Path

import click

from engine.cli import main


@main.command("explain")
@click.argument("event", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--rule", "rule_ids", multiple=True, metavar="ID",
              help="only this rule (its id, or severity:<id> / remediate:<id>; repeatable)")
@click.option("--rules", "rules", metavar="DIR", help="rule files (default ./rules, else the shipped policy)")
@click.option("--db", envvar="ESCALATION_DB", default="escalation.db", show_default=True,
              help="accepted like on every command (env ESCALATION_DB); history.* facts are taken as absent")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--model", "model", metavar="FILE", envvar="ESCALATION_MODEL",
              help="severity model (default the shipped one; 'none' for rules alone)")
def command(event: Path, rule_ids: tuple[str, ...], rules: str | None, db: str, fmt: str, model: str | None) -> None:
    """Explain how the rules decide EVENT (an event file in any intake format).

    Example: rules explain sample-events/moderate-degradation.json --rule sla-breach-risk
    """
    from engine.cli.options import load_compiled, rules_dir
    from engine.decide import Decider
    from engine.decide import classify as intelligence
    from engine.intake import IntakeError, parse
    from engine.model.event import Event
    from engine.run.review.explain import explain, render

    compiled = load_compiled(rules_dir(rules), quiet_warnings=True)
    try:
        items = [i for i in parse(event.read_bytes()) if isinstance(i, Event)]
    except IntakeError as exc:
        click.echo(f"error: {event}: {exc.reason}", err=True)
        raise SystemExit(1) from None
    if not items:
        click.echo(f"error: {event}: no event to explain (only acknowledgements)", err=True)
        raise SystemExit(1)
    known: set[str] = set()
    for rid in rule_ids:
        forms = [n for n in (rid, f"severity:{rid}", f"remediate:{rid}") if n in compiled.rules]
        if not forms:
            click.echo(f"error: no rule {rid!r} in the policy (severity and remediation rule ids)", err=True)
            raise SystemExit(1)
        known.update(forms)
    decider = Decider(compiled, model=intelligence.NO_MODEL if model == "none" else model)
    out = []
    for item in items:
        decision = decider.decide(item)
        verdicts = [v for v in explain(compiled, decision) if not known or v.rule in known]
        out.append((decision, verdicts))
    if fmt == "json":
        click.echo(json.dumps([{"event_id": d.event_id, "severity": d.severity,
                                "rules": [v.as_dict() for v in vs]} for d, vs in out], indent=2, default=str))
    else:
        click.echo("\n".join(render(d, vs) for d, vs in out))
