"""``rules evaluate``."""

from __future__ import annotations

from pathlib import Path

import click

from engine.cli import main
from engine.cli.options import load_compiled, model_option, rules_dir, rules_option, unused_db_option
from engine.resources import resource


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
    from engine.decide.classify import load_model
    from engine.run.evaluate import format_evaluation, run_evaluation

    path = corpus or resource("data") / "corpus" / "eval.jsonl"
    try:
        records = read_corpus(path)
    except TrainingDataError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(1) from None
    compiled = load_compiled(rules_dir(rules), quiet_warnings=True)
    click.echo(format_evaluation(run_evaluation(compiled, records, load_model(model), str(path))))
