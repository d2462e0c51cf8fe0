"""``rules ack``, ``rules resolve``, ``rules escalate``: an operator's update, the same as an ack file or a webhook.

With no daemon holding ``--db`` the update goes through the pipeline here (matched to the incident,
recorded, pending steps stopped, the upstream alerts acknowledged/resolved by the next ``rules run``).
While a daemon runs, the same JSON is written into its spool's ``incoming/`` (the ack-file protocol),
so its in-memory state sees it too.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from engine.cli import main
from engine.cli.options import db_option, load_compiled, need_audit_log, rules_dir, rules_option

F = TypeVar("F", bound=Callable[..., Any])


def _options(fn: F) -> F:
    for option in reversed((
        click.argument("incident_id"),
        click.option("--by", "by", required=True, help="who (recorded in the audit log)"),
        click.option("--note", default="", help="free text, kept with the update"),
        click.option("--spool", default="spool", show_default=True,
                     help="the running daemon's spool (used only while a daemon holds --db)"),
        rules_option, db_option)):
        fn = option(fn)
    return fn


@main.command()
@_options
def ack(incident_id: str, by: str, note: str, spool: str, rules: str | None, db: str) -> None:
    """Acknowledge an incident: its pending escalation steps are not sent; upstream alerts are acked.

    Example: rules ack INC-2025-001 --by alice
    """
    update("ack", incident_id, by, note, spool, rules, db)


@main.command()
@_options
def resolve(incident_id: str, by: str, note: str, spool: str, rules: str | None, db: str) -> None:
    """Resolve an incident: nothing more is paged; upstream alerts (every step's) are resolved.

    Example: rules resolve INC-2025-001 --by alice --note "rolled back"
    """
    update("resolve", incident_id, by, note, spool, rules, db)


@main.command()
@_options
@click.option("--to", "step", type=click.IntRange(0, 100), metavar="STEP",
              help="the escalation step to page (0 is the primary); default: the one after those already paged")
@click.option("--reason", default="", help="why (kept with the update, like --note)")
def escalate(incident_id: str, by: str, note: str, spool: str, rules: str | None, db: str, step: int | None,
             reason: str) -> None:
    """Escalate an incident now: its next step (the backup) is paged at once instead of after its timeout.

    Recorded in the audit log (an ``escalate`` update; the metrics count it as a manual escalation).
    An acknowledged incident can be escalated too (a page for help).

    Example: rules escalate INC-2025-001 --by alice --reason "needs the database team"
    """
    why = "; ".join(t for t in (reason, note) if t)
    update("escalate", incident_id, by, why, spool, rules, db, {} if step is None else {"step": step})


def update(kind: str, incident_id: str, by: str, note: str, spool: str, rules: str | None, db: str,
           extra: dict[str, Any] | None = None) -> None:
    from engine.run.daemon.lock import AlreadyRunning, acquire_lock

    need_audit_log(db)
    if kind in ("ack", "resolve"):
        _refuse_if_resolved(kind, incident_id, db)
    doc = {"type": kind, "event_id": f"cli:{kind}:{uuid.uuid4().hex}", "incident_id": incident_id, "by": by,
           "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
           "source": "cli", "note": note, **(extra or {})}
    data = json.dumps(doc).encode()
    try:
        lock = acquire_lock(db)
    except AlreadyRunning:
        from engine.run.daemon.spool import Spool

        box = Spool(Path(spool))
        if not box.incoming.is_dir():
            click.echo(f"error: a daemon holds {db} but {box.incoming} is not its spool (pass --spool)", err=True)
            raise SystemExit(1) from None
        box.write(data, f"{doc['event_id'].replace(':', '-')}.json")
        click.echo(f"{incident_id}: {kind} by {by} queued for the running daemon ({box.incoming})")
        return
    try:
        _apply(kind, incident_id, by, data, rules, db)
    finally:
        lock.close()


def _refuse_if_resolved(kind: str, incident_id: str, db: str) -> None:
    """An ack or a second resolve of a resolved incident is a mistake (a wrong id, a stale page): say so, write
    nothing. Vendors' webhooks do not pass here: they go through the pipeline as before."""
    from engine.model.clock import normalized
    from engine.store.queries import incident

    found = incident(db, incident_id)
    if found is None or found["state"] != "resolved":
        return
    last = [u for u in found["updates"] if u["type"] == "resolve"][-1]
    when = normalized(str(last["occurred_at"] or last["at"]))
    click.echo(f"error: {incident_id} is already resolved (by {last['by']} at {when}); "
               f"nothing to {kind}", err=True)
    raise SystemExit(1)


def _apply(kind: str, incident_id: str, by: str, data: bytes, rules: str | None, db: str) -> None:
    import logging

    from engine.run.pipeline import Pipeline
    from engine.store.audit import Audit

    compiled = load_compiled(rules_dir(rules), quiet_warnings=True)
    logging.getLogger("escalation_handlers.daemon").setLevel(logging.ERROR)  # the error line below says it
    audit = Audit(db)
    try:
        result = Pipeline(compiled, audit).process("cli", data)
    finally:
        audit.close()
    if not result.ok:
        click.echo(f"error: {result.reason}", err=True)
        raise SystemExit(1)
    matched = result.acknowledgements[0].incident_id
    also = f" (matched {matched})" if matched != incident_id else ""
    if kind == "escalate":
        click.echo(f"{incident_id}: escalated by {by}{also}; {_paged(db, result.acknowledgements[0].event_id)}")
        return
    verb = "acknowledged" if kind == "ack" else "resolved"
    click.echo(f"{incident_id}: {verb} by {by}{also}; its pending steps will not be sent (marked cancelled by the "
               "next rules run, which also tells the upstream pagers)")


def _paged(db: str, event_id: str) -> str:
    """What the escalation made due now, in words."""
    from engine.store.audit import Audit
    from engine.store.escalations import requested

    audit = Audit(db)
    try:
        pages = requested(audit, event_id)
    finally:
        audit.close()
    if not pages:
        return "its step was already due (sent by the running daemon, or by the next rules run if none runs)"
    targets = sorted({t for p in pages for t in json.loads(p["intent"]).get("targets", [])})
    return (f"step {pages[0]['step']} ({', '.join(p['action'] for p in pages)} → {', '.join(targets)}) is due now: "
            "paged by the running daemon or the next rules run")
