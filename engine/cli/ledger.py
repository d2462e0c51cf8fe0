"""``rules audit verify|prove|check-proof|checkpoint|keygen``: the tamper-evident ledger (engine/store/ledger*.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from engine.cli.audit import audit
from engine.cli.history import db_option, unused_rules_option
from engine.cli.options import need_audit_log

keys_option = click.option("--keys", "keys_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                           help="verifier keys, one '<name>+<id>+<key> [from=N]' per line")


def _keys(path: Path | None) -> list | None:  # type: ignore[type-arg]
    from engine.store.ledger_note import parse_vkeys

    if path is None:
        return None
    try:
        keys = parse_vkeys(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise click.BadParameter(f"{path}: {exc}", param_hint="--keys") from None
    if not keys:  # an empty file would only say "signed by unknown key" of every checkpoint
        raise click.BadParameter(f"{path}: no verifier keys in it ('<name>+<hex id>+<base64 key>' lines, from "
                                 "rules audit keygen's stderr)", param_hint="--keys")
    return keys


def _external(paths: tuple[Path, ...]) -> list[str]:
    from engine.store.ledger_note import split_notes

    notes: list[str] = []
    for p in paths:
        files = sorted(p.glob("*.log")) + sorted(p.glob("*.note")) if p.is_dir() else [p]
        for f in files:
            notes += split_notes(f.read_text(encoding="utf-8"))
    return notes


@audit.command("verify")
@keys_option
@click.option("--external", "external", multiple=True, type=click.Path(exists=True, path_type=Path),
              help="exported checkpoints (the sink's checkpoints.log, a file or directory); repeatable")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@unused_rules_option
@db_option
def verify_cmd(keys_file: Path | None, external: tuple[Path, ...], fmt: str, rules: str | None, db: str) -> None:
    """Recompute every row hash, transaction root, chain and checkpoint; exit 1 at the first bad one."""
    from engine.store.ledger_verify import verify
    from engine.store.readonly import connect_ro

    conn = connect_ro(db)
    try:
        rep = verify(conn, _keys(keys_file), _external(external))
    finally:
        conn.close()
    rate = rep.rows / rep.seconds if rep.seconds else 0.0
    if fmt == "json":
        click.echo(json.dumps({"ok": rep.ok, "entries": rep.entries, "rows": rep.rows, "checkpoints": rep.checkpoints,
                               "seconds": round(rep.seconds, 3), "problems": rep.problems}, indent=2))
    else:
        for p in rep.problems:
            where = ", ".join(f"{k} {p[k]}" for k in ("seq", "table", "rowid", "column") if p.get(k) is not None)
            click.echo(f"FAIL {where}: {p['problem']}")
        if keys_file is None:
            click.echo("note: signatures not checked (no --keys)", err=True)
        click.echo(f"{'ok' if rep.ok else 'FAILED'}: {rep.entries} ledger entries, {rep.rows} rows, "
                   f"{rep.checkpoints} checkpoints in {rep.seconds:.2f} s ({rate:,.0f} rows/s)")
    raise SystemExit(0 if rep.ok else 1)


@audit.command("prove")
@click.option("--event", "event_id", required=True, help="the event whose decision to prove")
@click.option("--table", type=click.Choice(["decisions", "events"]), default="decisions", show_default=True,
              help="prove the event's decision row or its events row (payload as its hash)")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path))
@unused_rules_option
@db_option
def prove_cmd(event_id: str, table: str, output: Path | None, rules: str | None, db: str) -> None:
    """An offline inclusion proof of one decision, verifiable with the public key alone (check-proof)."""
    from engine.store.ledger_verify import prove
    from engine.store.readonly import connect_ro

    conn = connect_ro(db)
    try:
        text = prove(conn, event_id, table)
    except LookupError as exc:
        click.echo(f"error: {exc.args[0]}", err=True)
        raise SystemExit(1) from None
    finally:
        conn.close()
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")


@audit.command("check-proof")
@click.argument("proof", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--keys", "keys_file", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="verifier keys")
def check_proof_cmd(proof: Path, keys_file: Path) -> None:
    """Check a proof from `rules audit prove` offline: no database, only the public key."""
    from engine.store.ledger_verify import check_proof

    ok, line = check_proof(proof.read_text(encoding="utf-8"), _keys(keys_file) or [])
    click.echo(("ok: " if ok else "FAIL: ") + line)
    raise SystemExit(0 if ok else 1)


@audit.command("checkpoint")
@unused_rules_option
@db_option
def checkpoint_cmd(rules: str | None, db: str) -> None:
    """Write a signed checkpoint of the ledger now (also to $ESCALATION_LEDGER_SINK)."""
    from engine.store.audit import Audit

    log = Audit(db)
    try:
        note = log.ledger.checkpoint("manual") if log.ledger is not None else None
    finally:
        log.close()
    if note is None:
        click.echo("error: nothing sealed yet (or ESCALATION_LEDGER=off)", err=True)
        raise SystemExit(1)
    sys.stdout.write(note)


@audit.command("rollup")
@unused_rules_option
@db_option
def rollup_cmd(rules: str | None, db: str) -> None:
    """Refresh the rollup behind `rules audit firings` over the whole log (also done by every prune)."""
    from engine.store.audit import Audit
    from engine.store.audit_rollup import refresh

    need_audit_log(db)
    log = Audit(db)
    try:
        n = refresh(log)
    finally:
        log.close()
    click.echo(f"firings rollup refreshed: {n} group(s)")


@audit.command("keygen")
@click.option("--name", default="escalation-handlers", show_default=True, help="the key's name in signatures")
def keygen_cmd(name: str) -> None:
    """A new Ed25519 signing key: the environment lines to keep secret, and the verifier key to publish."""
    from engine.store.ledger_note import new_key

    seed, vkey = new_key(name)
    click.echo(f"ESCALATION_LEDGER_KEY={seed}\nESCALATION_LEDGER_KEY_NAME={name}")
    click.echo(f"# verifier key (publish; add ' from=<ledger size>' when it replaces an older key):\n{vkey}", err=True)


@audit.command("export")
@click.option("--to", "dest", required=True, help="a directory, or s3://bucket/prefix (object lock enabled)")
@click.option("--retain-days", type=click.IntRange(min=1), default=365, show_default=True,
              help="S3 object lock (COMPLIANCE) retention")
@unused_rules_option
@db_option
def export_cmd(dest: str, retain_days: int, rules: str | None, db: str) -> None:
    """Export the next sealed segment (entries up to the newest checkpoint, with the signed note).

    Example: rules audit export --to s3://audit-bucket/escalation/ --retain-days 400
    """
    from engine.store.audit_export import export
    from engine.store.readonly import connect_ro

    conn = connect_ro(db)
    try:
        names = export(conn, dest, retain_days)
    except OSError as exc:
        click.echo(f"error: cannot write to {dest}: {exc}", err=True)
        raise SystemExit(3) from None
    finally:
        conn.close()
    click.echo("\n".join(names) if names else "nothing new to export (no checkpoint past the last segment)")
