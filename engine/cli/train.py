"""``rules train``."""

from __future__ import annotations

from pathlib import Path

import click

from engine.cli import main
from engine.cli.options import unused_db_option, unused_rules_option


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
