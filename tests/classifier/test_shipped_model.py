"""The committed model on the committed held-out corpus (data/corpus/eval.jsonl)."""

from __future__ import annotations

from pathlib import Path

from engine.classifier.metrics import evaluate
from engine.classifier.model import load_classifier
from engine.classifier.train import read_corpus

EVAL = Path(__file__).resolve().parents[2] / "data" / "corpus" / "eval.jsonl"


def test_shipped_model_meets_quality_targets_on_eval() -> None:
    records = read_corpus(EVAL)
    assert len(records) >= 1000
    clf = load_classifier()
    report = evaluate([t for _, t in records], [p.label for p in clf.predict_many([e for e, _ in records])])
    assert report.macro_f1 >= 0.95, report
    assert report.fpr < 0.02 and report.fpr_none < 0.02, report
    assert report.per_class["CRITICAL"].recall >= 0.98, report


def test_eval_and_train_do_not_share_events() -> None:
    train_ids = {e.event_id for e, _ in read_corpus(EVAL.with_name("train.jsonl"))}
    assert not train_ids & {e.event_id for e, _ in read_corpus(EVAL)}
