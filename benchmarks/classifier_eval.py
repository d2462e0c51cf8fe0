"""Benchmark the severity classifier on the held-out corpus: quality, calibration, latency.

``python benchmarks/classifier_eval.py [--eval FILE.jsonl] [--model FILE.skops]`` prints the
model-alone report (accuracy, per-class scores, macro-F1, false positive rate, confusion
matrix), a reliability table, per-event ``predict`` latency (p50/p99) and batch throughput.

To compare with (and combine with) the threshold rules, call ``main(rules_verdict=...)`` with
a function that returns the severities of the rules that fired for an event (an empty tuple
means none fired; the rules verdict is the highest). It then also prints the rules-alone
report and the combined one, under :func:`combine`'s policy: rules are authoritative, and the
model can only raise a rules NONE to MODERATE (manual review) when it says MAJOR or CRITICAL
with confidence ≥ :data:`REVIEW_CONFIDENCE`.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from engine.classifier.metrics import calibration, evaluate, format_report
from engine.classifier.model import DEFAULT_MODEL_PATH, Classifier, Prediction, load_classifier
from engine.classifier.train import read_corpus
from engine.event import SEVERITIES, Event

REPO = Path(__file__).resolve().parents[1]
DEFAULT_EVAL = REPO / "data" / "corpus" / "eval.jsonl"
REVIEW_CONFIDENCE = 0.9
RulesVerdict = Callable[[Event], tuple[str, ...]]


def rules_label(fired: tuple[str, ...]) -> str:
    """The highest severity among the fired rules (NONE when none fired)."""
    return max(fired, key=SEVERITIES.index, default="NONE")


def combine(rules: str, prediction: Prediction) -> str:
    """Rules decide; a confident model can only turn a rules NONE into MODERATE (review)."""
    if (
        rules == "NONE"
        and prediction.label in ("MAJOR", "CRITICAL")
        and prediction.confidence >= REVIEW_CONFIDENCE
    ):
        return "MODERATE"
    return rules


def latency(clf: Classifier, events: Sequence[Event], rounds: int = 3) -> tuple[float, float, float]:
    """(p50 µs, p99 µs) of one ``predict`` call, and batch events/second."""
    for e in events[:200]:  # warm caches
        clf.predict(e)
    samples = []
    for _ in range(rounds):
        for e in events:
            start = time.perf_counter()
            clf.predict(e)
            samples.append(time.perf_counter() - start)
    start = time.perf_counter()
    clf.predict_many(events)
    batch = len(events) / (time.perf_counter() - start)
    p50, p99 = np.percentile(samples, [50, 99]) * 1e6
    return float(p50), float(p99), batch


def main(
    rules_verdict: RulesVerdict | None = None,
    *,
    eval_path: Path = DEFAULT_EVAL,
    model_path: Path = DEFAULT_MODEL_PATH,
) -> int:
    records = read_corpus(eval_path)
    events, truth = [e for e, _ in records], [label for _, label in records]
    clf = load_classifier(model_path)
    predictions = clf.predict_many(events)
    predicted = [p.label for p in predictions]
    print(f"model {model_path.name} version {clf.version}, eval {eval_path}")
    print(format_report("model alone", evaluate(truth, predicted)))

    correct = [p == t for p, t in zip(predicted, truth, strict=True)]
    bins, ece = calibration([p.confidence for p in predictions], correct)
    print(f"\n  calibration (expected calibration error {ece:.4f})")
    print(f"  {'confidence':<14}{'n':>6}{'mean conf':>11}{'accuracy':>10}")
    for b in bins:
        print(f"  [{b.low:.2f}, {b.high:.2f}){b.n:>8}{b.confidence:>11.3f}{b.accuracy:>10.3f}")

    p50, p99, per_second = latency(clf, events)
    print(f"\n  predict(event) latency: p50 {p50:.0f} µs, p99 {p99:.0f} µs")
    print(f"  predict_many: {per_second:,.0f} events/s ({len(events)} events)")

    if rules_verdict is not None:
        by_rules = [rules_label(rules_verdict(e)) for e in events]
        combined = [combine(r, p) for r, p in zip(by_rules, predictions, strict=True)]
        raised = sum(c != r for c, r in zip(combined, by_rules, strict=True))
        print("\n" + format_report("rules alone", evaluate(truth, by_rules)))
        print(
            "\n"
            + format_report(
                f"rules + model review ({raised} raised NONE→MODERATE)", evaluate(truth, combined)
            )
        )
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval", dest="eval_path", type=Path, default=DEFAULT_EVAL)
    parser.add_argument("--model", dest="model_path", type=Path, default=DEFAULT_MODEL_PATH)
    raise SystemExit(main(**vars(parser.parse_args())))
