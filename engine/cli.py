"""The ``rules`` command: thin wrappers around the engine's functions.

Exit codes: 0 success; 1 rule files invalid or simulate expectations not met; 2 usage error;
3 runtime failure (audit log unwritable, engine failure). Results go to stdout, diagnostics
and logs to stderr, so ``rules simulate --format json | jq`` always works.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from engine import diagnostics as diag
from engine.errors import RulesError
from engine.resources import resource

PACKAGED_RULES = resource("rules")


def rules_dir(value: str | None) -> Path:
    """``--rules``, else ``./rules``, else the policy shipped with the package."""
    if value:
        return Path(value)
    local = Path("rules")
    return local if local.is_dir() else PACKAGED_RULES


def load_compiled(rules: Path, quiet_warnings: bool = False) -> Any:
    from engine.compile import compile_policy
    from engine.validate import validate

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


def _listen_address(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[str, int] | None:
    from engine.http_intake import parse_listen

    if value is None:
        return None
    try:
        return parse_listen(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Incident policy as code: validate, simulate and run the YAML rules."""
    from engine import logs

    logs.install(os.environ.get("LOG_LEVEL", "INFO"), plain=True)  # secrets redacted from every line


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
    from engine.validate import validate as run_validate

    root = rules_dir(directory or rules)
    policy, problems = run_validate(root)
    if fmt == "json" or problems:
        click.echo(diag.render(problems, fmt))
    if verbose:
        click.echo(diag.summary(problems), err=True)
    raise SystemExit(1 if policy is None else 0)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@rules_option
@db_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--check", is_flag=True, help="compare with each event's 'expect' block; exit 1 on a mismatch")
@click.option("--script", "script_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="acks/resolves to play on the virtual clock, e.g. [{at: '+4m', ack: bob}] (see engine/timeline.py)")
@model_option
def simulate(paths: tuple[Path, ...], rules: str | None, db: str, fmt: str, check: bool, model: str | None,
             script_file: Path | None) -> None:
    """Run events through the rules with actions in dry-run and show what would happen.

    Example: rules simulate sample-events/ --check --script acks.yaml
    """
    from engine.simulate import render_text
    from engine.timeline import load_script

    try:
        script = load_script(script_file) if script_file else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--script") from None
    from engine.simulate import simulate as run_simulate

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


@main.command()
@rules_option
@db_option
@click.option("--spool", default="spool", show_default=True, help="spool root (incoming/ processing/ done/ failed/)")
@click.option("--once", is_flag=True, help="drain the spool and the outbox once, then exit")
@click.option("--interval", default=0.05, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="longest idle wait between spool scans (1 ms after work, doubling while idle)")
@click.option("--enqueue", "enqueue", multiple=True, type=click.Path(exists=True, path_type=Path),
              help="copy these event files (or directories) into incoming/ first")
@click.option("--max-event-bytes", default=1_048_576, show_default=True, type=click.IntRange(min=1),
              help="size limit per file and HTTP body")
@click.option("--listen", metavar="HOST:PORT", callback=_listen_address,
              help="HTTP intake, /metrics and /healthz (e.g. 127.0.0.1:9095)")
@click.option("--retention-days", default=7.0, show_default=True, type=click.FloatRange(min=0),
              help="prune done/ files older than this")
@click.option("--reload-interval", default=2.0, show_default=True, type=click.FloatRange(min=0),
              help="seconds between checks of the rule files for changes (0: only on SIGHUP)")
@click.option("--batch", default=1000, show_default=True, type=click.IntRange(min=1),
              help="most files claimed from incoming/ per batch (a batch is what is waiting)")
@click.option("--max-clock-skew", default=300.0, show_default=True, type=click.FloatRange(min=0),
              help="seconds an event may be stamped ahead of intake; beyond, it is decided at intake time")
@model_option
def run(rules: str | None, db: str, spool: str, once: bool, interval: float, enqueue: tuple[Path, ...],
        max_event_bytes: int, listen: tuple[str, int] | None, retention_days: float, reload_interval: float,
        batch: int, max_clock_skew: float, model: str | None) -> None:
    """The daemon: decide every event file dropped into the spool and execute the actions.

    Logs are JSON lines on stderr. SIGHUP reloads the rules, SIGTERM finishes the current
    event and exits 0. A second daemon on the same --db exits 3.

    Example: rules run --once --enqueue sample-events/
    """
    from engine import logs
    from engine.audit import Audit
    from engine.daemon import Daemon, DaemonConfig, acquire_lock
    from engine.errors import AuditError
    from engine.execute import Executor
    from engine.pipeline import Pipeline
    from engine.reload import RulesWatcher
    from engine.simulate import event_files
    from engine.spool import Spool

    if not once:
        logs.install(os.environ.get("LOG_LEVEL", "INFO"))
    root = rules_dir(rules)
    compiled = load_compiled(root, quiet_warnings=not once)
    lock = acquire_lock(db)  # noqa: F841 - held until the process exits
    audit = Audit(db)
    box = Spool(Path(spool))
    try:
        box.ensure()
    except OSError as exc:
        raise click.BadParameter(f"cannot create {exc.filename}: {exc.strerror}", param_hint="--spool") from None
    for src in event_files(list(enqueue)):  # producer protocol: write a temp name, then rename
        try:
            data = src.read_bytes()
        except OSError as exc:
            raise click.BadParameter(f"cannot read {src}: {exc.strerror}", param_hint="--enqueue") from None
        box.write(data, src.name)
    config = DaemonConfig(interval=interval, batch=batch, retention_days=retention_days)
    watcher = None if once else RulesWatcher(root, reload_interval, background=True)  # off the decision thread
    daemon = Daemon(Pipeline(compiled, audit, max_event_bytes=max_event_bytes, model=model,
                             max_clock_skew=max_clock_skew),
                    Executor(audit, compiled.policy),
                    box, config=config, watcher=watcher)
    if not once:
        server = None
        if listen:
            from engine.http_intake import IntakeConfig, serve

            intake = IntakeConfig.from_env(os.environ, spool=box, metrics=daemon.metrics, health=daemon.health,
                                           max_bytes=max_event_bytes, on_write=daemon.wake.set)
            try:
                server = serve(intake, *listen)
            except OSError as exc:  # address in use, unknown host, no permission: one line, exit 3
                raise RulesError(f"cannot listen on {listen[0]}:{listen[1]}: {exc.strerror or exc}") from None
        daemon.run_forever()
        if server is not None:
            server.shutdown()
        audit.close()
        return
    stats = daemon.run_once()
    if not daemon.health.db_writable or daemon.health.spool_error:  # files left in processing/: not a clean run
        problem = daemon.health.db_error or daemon.health.spool_error
        raise AuditError(f"{stats.done} file(s) done, {stats.failed} failed; stopped with files left in "
                         f"{box.processing} ({problem}); they are decided on the next run")
    why = dict(audit.conn.execute(  # the reason an adapter could not act: its missing variable
        "SELECT a.action, r.detail FROM results r JOIN actions a ON a.id = r.action_id "
        "WHERE r.outcome = 'not-configured' GROUP BY a.action").fetchall())
    for (action, outcome), n in sorted(stats.actions.items()):
        reason = f"  ({why[action]})" if outcome == "not-configured" and action in why else ""
        click.echo(f"  {outcome:<15} {action:<10} {n:>4}{reason}")
    outcomes: dict[str, int] = {}
    for (_, outcome), n in stats.actions.items():
        outcomes[outcome] = outcomes.get(outcome, 0) + n
    click.echo(f"{stats.done} file(s) done, {stats.failed} failed, {stats.decided} decision(s); actions: "
               + (", ".join(f"{n} {k}" for k, n in sorted(outcomes.items())) or "none") + f"; audit log: {db}")


@main.command()
@click.option("--from", "sources", multiple=True, type=click.Path(path_type=Path), metavar="FILE.jsonl",
              help='labelled corpus, {"event": ..., "label": ...} per line (repeatable)')
@click.option("--from-audit", "audit_dbs", multiple=True, type=click.Path(path_type=Path), metavar="DB",
              help="audit log: train on the incidents confirmed or corrected with 'rules confirm'")
@click.option("--out", type=click.Path(path_type=Path), metavar="PATH",
              help="model file to write, with its .sha256 pin (default the shipped models/severity.skops)")
@click.option("--seed", default=0, show_default=True)
@unused_rules_option
@unused_db_option
def train(sources: tuple[Path, ...], audit_dbs: tuple[Path, ...], out: Path | None, seed: int, rules: str | None,
          db: str) -> None:
    """Train the severity model; with no source, on the shipped corpus data/corpus/train.jsonl.

    Example: rules train --from data/corpus/train.jsonl --from-audit escalation.db --out models/severity.skops
    """
    from engine.classifier.model import DEFAULT_MODEL_PATH
    from engine.classifier.train import DEFAULT_CORPUS, TrainingDataError, build

    try:
        done = build(sources or ([] if audit_dbs else [DEFAULT_CORPUS]), audit_dbs, out or DEFAULT_MODEL_PATH, seed)
    except TrainingDataError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(1) from None
    click.echo(f"trained on {done.records} records (temperature {done.temperature:.3f}); "
               f"wrote {done.out}, sha256 {done.digest}")


@main.command()
@click.option("--corpus", type=click.Path(exists=True, dir_okay=False, path_type=Path), metavar="FILE.jsonl",
              help="held-out labelled corpus (default data/corpus/eval.jsonl)")
@rules_option
@unused_db_option
@model_option
def evaluate(corpus: Path | None, rules: str | None, db: str, model: str | None) -> None:
    """Score the rules alone, the model alone and the combination on a held-out corpus.

    Prints accuracy, per-class precision/recall/F1, the confusion matrix and the false positive
    rate of each, and the latency the classifier adds in the engine.

    Example: rules evaluate --corpus data/corpus/eval.jsonl
    """
    from engine.classifier.train import TrainingDataError, read_corpus
    from engine.evaluation import format_evaluation, run_evaluation
    from engine.intelligence import load_model

    path = corpus or resource("data") / "corpus" / "eval.jsonl"
    try:
        records = read_corpus(path)
    except TrainingDataError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(1) from None
    compiled = load_compiled(rules_dir(rules), quiet_warnings=True)
    click.echo(format_evaluation(run_evaluation(compiled, records, load_model(model), str(path))))


@main.command()
@click.argument("event_id")
@click.option("--severity", required=True, type=click.Choice(["NONE", "MODERATE", "MAJOR", "CRITICAL"]),
              help="the severity the incident really had")
@click.option("--by", "by", required=True, help="who confirms it")
@click.option("--note", default="", help="why (free text)")
@unused_rules_option
@db_option
def confirm(event_id: str, severity: str, by: str, note: str, rules: str | None, db: str) -> None:
    """Record an operator's verdict on a decided event's severity (training data for 'rules train').

    Example: rules confirm INC-2025-002 --severity MODERATE --by alice --note "load test"
    """
    from engine.audit import Audit
    from engine.errors import AuditError

    if db != ":memory:" and not Path(db).is_file():  # a mistyped --db must not create an empty audit log
        click.echo(f"error: no audit log at {db} (pass --db or set ESCALATION_DB)", err=True)
        raise SystemExit(1)
    audit = Audit(db)
    try:
        row = audit.record_feedback(event_id, severity, by, note)
    except AuditError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(1) from None
    finally:
        audit.close()
    verb = "confirmed" if row["previous"] == severity else f"corrected from {row['previous']} to"
    click.echo(f"{event_id}: {verb} {severity} by {by}")


def entry() -> None:
    try:
        main(standalone_mode=True)
    except RulesError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(exc.exit_code) from None


if __name__ == "__main__":
    entry()
