"""Benchmark the severity classifier on the held-out corpus: quality, calibration, latency.

``python benchmarks/classifier_eval.py [--eval FILE.jsonl] [--model FILE.skops] [--rules DIR]``
prints the model's reliability table and raw ``predict`` latency, then the same three-way
evaluation as ``rules evaluate`` (:mod:`engine.run.evaluate`): the **rules alone** (every event
through the real :class:`~engine.decide.Decider` with the shipped rules and no model facts),
the **model alone**, and the **combination** (the real Decider with the model, so the policy
in ``rules/severity.yaml`` decides how the model's verdict counts), plus the latency the
classification step adds inside the engine (target: p99 < 1 ms).
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from engine.classifier.metrics import calibration
from engine.classifier.model import DEFAULT_MODEL_PATH, Classifier
from engine.classifier.train import read_corpus
from engine.cli import load_compiled
from engine.decide.classify import load_model
from engine.model.event import Event
from engine.run.evaluate import format_evaluation, run_evaluation

REPO = Path(__file__).resolve().parents[1]
DEFAULT_EVAL = REPO / "data" / "corpus" / "eval.jsonl"
DEFAULT_RULES = REPO / "rules"


def latency(clf: Classifier, events: Sequence[Event], rounds: int = 3) -> tuple[float, float, float]:
    """(p50 µs, p99 µs) of one ``predict`` call, and batch events/second."""
    for e in events[:200]:  # warm caches
        clf.predict(e)
    samples = []
    gc.disable()  # a collection of the benchmark's own garbage is not the classifier's cost
    try:
        for _ in range(rounds):
            for e in events:
                start = time.perf_counter()
                clf.predict(e)
                samples.append(time.perf_counter() - start)
    finally:
        gc.enable()
    start = time.perf_counter()
    clf.predict_many(events)
    batch = len(events) / (time.perf_counter() - start)
    p50, p99 = np.percentile(samples, [50, 99]) * 1e6
    return float(p50), float(p99), batch


def main(*, eval_path: Path = DEFAULT_EVAL, model_path: Path = DEFAULT_MODEL_PATH,
         rules: Path = DEFAULT_RULES) -> int:
    records = read_corpus(eval_path)
    events, truth = [e for e, _ in records], [label for _, label in records]
    state = load_model(model_path)
    if state.classifier is None:
        print(f"model {state.version}")
        return 1
    clf = state.classifier
    predictions = clf.predict_many(events)
    print(f"model {model_path.name} version {clf.version}, eval {eval_path}")
    correct = [p.label == t for p, t in zip(predictions, truth, strict=True)]
    bins, ece = calibration([p.confidence for p in predictions], correct)
    print(f"\n  calibration of the model (expected calibration error {ece:.4f})")
    print(f"  {'confidence':<14}{'n':>6}{'mean conf':>11}{'accuracy':>10}")
    for b in bins:
        print(f"  [{b.low:.2f}, {b.high:.2f}){b.n:>8}{b.confidence:>11.3f}{b.accuracy:>10.3f}")
    p50, p99, per_second = latency(clf, events)
    print(f"\n  Classifier.predict(event) latency: p50 {p50:.0f} µs, p99 {p99:.0f} µs")
    print(f"  predict_many: {per_second:,.0f} events/s ({len(events)} events)\n")
    compiled = load_compiled(rules, quiet_warnings=True)
    print(format_evaluation(run_evaluation(compiled, records, state, str(eval_path))))
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval", dest="eval_path", type=Path, default=DEFAULT_EVAL)
    parser.add_argument("--model", dest="model_path", type=Path, default=DEFAULT_MODEL_PATH)
    parser.add_argument("--rules", type=Path, default=DEFAULT_RULES)
    raise SystemExit(main(**vars(parser.parse_args())))
