"""``rules run``."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import click

from engine.cli import main
from engine.cli.options import db_option, listen_address, load_compiled, model_option, rules_dir, rules_option
from engine.cli.run_options import delivery_config, delivery_options
from engine.model.errors import RulesError


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
              help="size limit per event (an alert of a group; a single-event file)")
@click.option("--max-body-bytes", default=32 * 1_048_576, show_default=True, type=click.IntRange(min=1),
              help="size limit per file and HTTP body (a whole Alertmanager group)")
@click.option("--listen", metavar="HOST:PORT", callback=listen_address,
              help="HTTP intake, /metrics and /healthz (e.g. 127.0.0.1:9095)")
@click.option("--retention-days", default=7.0, show_default=True, type=click.FloatRange(min=0),
              help="prune done/ files older than this")
@click.option("--history-days", type=click.FloatRange(min=0, min_open=True), envvar="ESCALATION_HISTORY_DAYS",
              help="prune resolved incidents older than this from the audit log, daily (rules history prune; "
                   "env ESCALATION_HISTORY_DAYS; default: never)")
@click.option("--reload-interval", default=2.0, show_default=True, type=click.FloatRange(min=0),
              help="seconds between checks of the rule files for changes (0: only on SIGHUP)")
@click.option("--batch", default=1000, show_default=True, type=click.IntRange(min=1),
              help="most files claimed from incoming/ per batch (a batch is what is waiting)")
@click.option("--max-clock-skew", default=300.0, show_default=True, type=click.FloatRange(min=0),
              help="seconds an event may be stamped ahead of intake; beyond, it is decided at intake time")
@click.option("--init", "init", is_flag=True,
              help="create the directory of --db when it does not exist (without it, a missing one is an error)")
@model_option
@delivery_options
def run(rules: str | None, db: str, spool: str, once: bool, interval: float, enqueue: tuple[Path, ...],
        max_event_bytes: int, max_body_bytes: int, listen: tuple[str, int] | None, retention_days: float,
        history_days: float | None, reload_interval: float, batch: int, max_clock_skew: float,
        model: str | None, init: bool, **delivery: Any) -> None:
    """The daemon: decide every event file dropped into the spool and execute the actions.

    Logs are JSON lines on stderr. SIGHUP reloads the rules, SIGTERM finishes the current
    event and exits 0. A second daemon on the same --db exits 3.

    Delivery: due actions are sent concurrently (--send-per-adapter, --send-per-key, --send-limit),
    pages first; a vendor that keeps failing opens its circuit (--circuit-*). During a backlog a
    severity pre-pass decides CRITICAL files first (--triage-*, --no-triage; README "Storm intake").

    Example: rules run --once --enqueue sample-events/
    """
    from engine.model.errors import AuditError
    from engine.run.daemon import logs
    from engine.run.daemon.lock import acquire_lock
    from engine.run.daemon.loop import Daemon, DaemonConfig
    from engine.run.daemon.reload import RulesWatcher
    from engine.run.daemon.spool import Spool
    from engine.run.execute import Executor
    from engine.run.pipeline import Pipeline
    from engine.run.simulate import event_files
    from engine.store.audit import Audit

    delivery_fields = delivery_config(**delivery)  # bad values: a usage error before anything starts
    if not once:
        logs.install(os.environ.get("LOG_LEVEL", "INFO"))
    parent = Path(db).parent
    if db != ":memory:" and not parent.is_dir():  # a typo in --db must not start a fresh, empty audit log
        if not init:
            raise click.BadParameter(f"directory {parent} does not exist (a typo? pass --init to create it)",
                                     param_hint="--db")
        parent.mkdir(parents=True, exist_ok=True)
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
    config = DaemonConfig(interval=interval, batch=batch, retention_days=retention_days, history_days=history_days,
                          **delivery_fields)
    watcher = None if once else RulesWatcher(root, reload_interval, background=True)  # off the decision thread
    from actions.retry import RetryPolicy
    from engine.run.fallback import Fallback, retry_for

    fallback = Fallback(audit, compiled.policy)
    executor = Executor(audit, compiled.policy, retry_for=retry_for(compiled.policy, RetryPolicy()),
                        on_failed=fallback.failed)
    daemon = Daemon(Pipeline(compiled, audit, max_event_bytes=max_event_bytes, max_body_bytes=max_body_bytes,
                             model=model, max_clock_skew=max_clock_skew),
                    executor, box, config=config, watcher=watcher)
    if db != ":memory:":  # the SRE metrics and risk scores on /metrics too (README "Anomaly intelligence")
        from engine.report.metrics_prometheus import InsightsCollector

        daemon.metrics.registry.register(InsightsCollector(db))

    def undelivered(intent: Any, failures: list[str]) -> None:  # every channel failed: metric + /healthz
        daemon.metrics.undelivered.inc()
        daemon.health.undelivered = [*daemon.health.undelivered[-19:],
                                     f"{intent.incident_id} step {intent.step}: {'; '.join(failures)}"[:500]]

    fallback.undelivered = undelivered
    daemon.health.unconfigured = unconfigured(executor, compiled.policy)
    started = audit.clock()
    if not once:
        for name, problem in sorted(daemon.health.unconfigured.items()):  # one start-up line per adapter
            logger.warning(f"adapter {name} is not configured: {problem}; its requests will be recorded as "
                           "not-configured", extra={"event": "adapter-not-configured", "action": name})
        server = None
        if listen:
            from engine.run.daemon.http import IntakeConfig, serve

            intake = IntakeConfig.from_env(os.environ, spool=box, metrics=daemon.metrics, health=daemon.health,
                                           max_bytes=daemon.pipeline.max_body_bytes, on_write=daemon.wake.set,
                                           on_refused=daemon.refused)
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
    why = audit.not_configured_reasons()  # the reason an adapter could not act: its missing variable
    for (action, outcome), n in sorted(stats.actions.items()):
        reason = f"  ({why[action]})" if outcome == "not-configured" and action in why else ""
        click.echo(f"  {outcome:<15} {action:<10} {n:>4}{reason}")
    outcomes: dict[str, int] = {}
    for (_, outcome), n in stats.actions.items():
        outcomes[outcome] = outcomes.get(outcome, 0) + n
    click.echo(f"{stats.done} file(s) done, {stats.failed} failed, {stats.decided} decision(s); actions: "
               + (", ".join(f"{n} {k}" for k, n in sorted(outcomes.items())) or "none") + f"; audit log: {db}")
    failed = audit.failed_pages(started)
    for incident_id, action, detail in failed:  # a page nobody received: the run did not do its job
        click.echo(f"error: page for {incident_id} via {action} failed: {detail[:300]}", err=True)
    if stats.failed:  # bad input: quarantined with its reason (logged above), the rest decided; the run says so
        click.echo(f"error: {stats.failed} event file(s) rejected; each is in {box.failed} with a .reason.json",
                   err=True)
    audit.close()  # seals what is left and writes the shutdown checkpoint (engine/store/ledger.py)
    if failed:
        raise SystemExit(PAGE_FAILED)
    if stats.failed:
        raise SystemExit(REJECTED)


PAGE_FAILED = 4  # rules run --once: every file decided, but at least one page failed (see README exit codes)
REJECTED = 1  # rules run --once: an event file was rejected (quarantined in failed/), the others decided
logger = logging.getLogger("escalation_handlers.daemon")


def unconfigured(executor: Any, policy: Any) -> dict[str, str]:
    """Adapter the policy uses → why it cannot send (team routing keys included), for start-up and /healthz."""
    from actions.base import ActionError

    out: dict[str, str] = {}
    for name in sorted(policy.used_actions()):
        try:
            problem = executor.adapter(name).configured()
        except ActionError as exc:
            problem = str(exc)
        if problem:
            out[name] = problem
    for team in policy.teams.values():
        for env in (team.routing_key_env, team.backup_routing_key_env):
            if env and not executor.env.get(env) and "pagerduty" in policy.used_actions():
                out.setdefault(f"pagerduty:{team.name}", f"{env} is not set")
    return out
