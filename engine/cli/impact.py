"""``rules impact``: replay recorded events through the base and the head rule sets; report what changes."""

from __future__ import annotations

import json
import tempfile
from datetime import datetime
from pathlib import Path

import click

from engine.cli import main


def export_rules(rules: Path, ref: str, into: Path) -> Path:
    """The rules directory as of git ``ref`` (``git show``), written under ``into``; BadParameter if not there."""
    import subprocess

    root = rules.resolve()
    try:
        top = subprocess.run(["git", "-C", str(root), "rev-parse", "--show-toplevel"], capture_output=True,
                             text=True, check=True).stdout.strip()
        rel = root.relative_to(Path(top).resolve()).as_posix()
        names = subprocess.run(["git", "-C", top, "ls-tree", "-r", "--name-only", ref, "--", rel],
                               capture_output=True, text=True, check=True).stdout.splitlines()
    except (subprocess.CalledProcessError, ValueError, OSError) as exc:
        detail = (getattr(exc, "stderr", "") or str(exc)).strip().splitlines()
        raise click.BadParameter(f"cannot read {rules} at {ref!r}: {detail[-1] if detail else exc}",
                                 param_hint="--base") from None
    if not names:
        raise click.BadParameter(f"{ref!r} has no files under {rel}", param_hint="--base")
    for name in names:
        data = subprocess.run(["git", "-C", top, "show", f"{ref}:{name}"], capture_output=True, check=True).stdout
        target = into / Path(name).relative_to(rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return into


@main.command("impact")
@click.option("--base", "base_ref", metavar="REF", help="the base rule set: the rules directory at this git ref")
@click.option("--baseline", type=click.Path(exists=True, file_okay=False, path_type=Path), metavar="DIR",
              help="the base rule set: this directory")
@click.option("--rules", "rules", metavar="DIR", help="the head rule set (default ./rules, else the shipped policy)")
@click.option("--db", envvar="ESCALATION_DB", default="escalation.db", show_default=True,
              help="the recorded audit log to replay (env ESCALATION_DB; opened read-only)")
@click.option("--events", "events", multiple=True, type=click.Path(exists=True, path_type=Path),
              help="replay these event files or directories instead of an audit log")
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "json"]), default="text", show_default=True)
@click.option("--html", "html_out", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="also write the HTML report")
@click.option("--summary", "summary_out", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="also append the Markdown report to FILE (e.g. $GITHUB_STEP_SUMMARY)")
@click.option("--budget", type=click.Path(exists=True, dir_okay=False, path_type=Path), metavar="FILE",
              help="impact budget (YAML: max: {severity: 25, pages_added: 0}); exit 1 when exceeded")
@click.option("--model", "model", metavar="FILE", envvar="ESCALATION_MODEL",
              help="for --events: the severity model ('none': rules alone); an audit log replays recorded verdicts")
@click.option("--jobs", type=click.IntRange(1, 2), default=None, metavar="N",
              help="1: replay base then head; 2: both at once, the base in a forked process (halves the wall "
                   "time on an idle multi-core runner; on a busy machine use 1)  [default: 2 with two usable CPUs]")
@click.option("--store", type=click.Choice(["memory", "sqlite"]), default="memory", show_default=True,
              help="where each replay keeps its audit log and suppression state: Python structures, or the "
                   "daemon's sqlite tables (in memory; the reference, about twice the time)")
def command(base_ref: str | None, baseline: Path | None, rules: str | None, db: str, events: tuple[Path, ...],
            fmt: str, html_out: Path | None, summary_out: Path | None, budget: Path | None, model: str | None,
            jobs: int | None, store: str) -> None:
    """Decide every recorded event with the base and the head rules; report the differences.

    Example: rules impact --base origin/main --db escalation.db --format markdown --budget impact-budget.yaml
    """
    from engine.cli.options import load_compiled, need_audit_log, rules_dir
    from engine.report import impact as report
    from engine.run.review import impact as im
    from engine.run.review.impact_jobs import default_jobs, replay_both

    if (base_ref is None) == (baseline is None):
        raise click.UsageError("give exactly one of --base REF or --baseline DIR")
    head_dir = rules_dir(rules)
    limits = _budget(budget) if budget else None
    with tempfile.TemporaryDirectory(prefix="rules-base-") as tmp:
        base_dir = baseline or export_rules(head_dir, str(base_ref), Path(tmp))
        base, head = load_compiled(base_dir, quiet_warnings=True), load_compiled(head_dir, quiet_warnings=True)
    history = None
    if events:
        items = im.event_file_items(list(events))
        state = im.configured_model(model)
    else:
        from engine.store import replay as audit_replay

        need_audit_log(db)  # a mistyped --db is not an empty replay (exit 3, like every reader; or pass --events)
        conn = audit_replay.open_readonly(Path(db))
        try:
            items = [im.Item(r.kind, f"audit:{r.event_id}", r.payload, _time(r.at), r.event_id, r.model,
                             r.decision_rowid) for r in audit_replay.recorded(conn)]
        finally:
            conn.close()  # each replay opens its own: a connection is never shared across a fork
        state = im.verdicts_model(items)

        def history() -> im.RecordedHistory:  # reads the recorded decisions whole, in the replaying process
            recorded = audit_replay.open_readonly(Path(db))
            try:
                return im.RecordedHistory(recorded, store=store)
            finally:
                recorded.close()
    result = im.compare(*replay_both(base, head, items, model=state, history_factory=history,
                                     jobs=jobs or default_jobs(), store=store))
    doc = result.as_dict()
    over = im.over_budget(result, limits) if limits is not None else []
    title = f"{base_ref or baseline} → {head_dir}"
    md = report.markdown(doc, title, over)
    if fmt == "json":
        click.echo(json.dumps({**doc, "over_budget": over}, indent=2, default=str))
    elif fmt == "markdown":
        click.echo(md)
    else:
        click.echo(report.text(doc))
    if html_out is not None:
        html_out.write_text(report.html_report(doc, title))
    if summary_out is not None:
        with summary_out.open("a") as fh:
            fh.write(md)
    for line in over:
        click.echo(f"error: impact over budget: {line}", err=True)
    raise SystemExit(1 if over else 0)


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _budget(path: Path) -> dict:  # type: ignore[type-arg]
    import yaml

    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise click.BadParameter(f"{path}: invalid YAML: {exc}", param_hint="--budget") from None
    from engine.run.review.impact import KINDS

    bad = [k for k in (doc.get("max") or {}) if k not in KINDS] if isinstance(doc, dict) else ["(not a mapping)"]
    if bad or not isinstance(doc.get("max", {}), dict):
        raise click.BadParameter(f"{path}: unknown kind(s) {', '.join(bad)}; known: {', '.join(KINDS)}",
                                 param_hint="--budget")
    return doc
