"""Three-way evaluation on a labelled corpus: the rules alone, the model alone, the combination.

Takes a compiled policy, a labelled corpus (``read_corpus`` records) and a model state, and
returns an :class:`Evaluation`: one :class:`~engine.classifier.metrics.Report` per verdict and
the latency the classifier adds inside the engine.

* **rules alone**: every event through the real :class:`~engine.decide.Decider` with the
  policy and no model (``model.*`` facts absent, so the model rules never fire);
* **model alone**: the classifier's label;
* **combined**: the real ``Decider`` with the model, i.e. what ``rules run`` decides.

No history provider is attached: corpus events are independent observations, and counting
one another as incidents would make each verdict depend on corpus order.
Latency is measured per event around the classification step the ``Decider`` runs
(:func:`engine.decide.classify.predict` plus adding the facts), and around ``Decider.decide``
with and without the model.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from engine.classifier.metrics import Report, evaluate, format_report
from engine.compiler.compile import CompiledPolicy
from engine.decide import Decider
from engine.decide import classify as intelligence
from engine.decide.classify import ModelState
from engine.model.event import Event


@dataclass(frozen=True)
class Latency:
    p50_us: float
    p99_us: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Latency:
        p50, p99 = np.percentile(np.asarray(seconds), [50, 99]) * 1e6
        return cls(float(p50), float(p99))


@dataclass(frozen=True)
class Evaluation:
    corpus: str
    model_version: str
    rules: Report
    model: Report | None
    combined: Report | None
    classify: Latency | None  # the classification step inside the engine (wall clock)
    classify_cpu: Latency | None  # the same step in thread CPU time: no preemption by other processes
    decide_rules: Latency  # Decider.decide without the model
    decide_combined: Latency | None  # Decider.decide with the model


def run_evaluation(compiled: CompiledPolicy, records: Sequence[tuple[Event, str]], state: ModelState,
                   corpus: str = "") -> Evaluation:
    events, truth = [e for e, _ in records], [label for _, label in records]
    by_rules, rules_time = _decide_all(Decider(compiled, model=intelligence.NO_MODEL), events)
    if not state.available:
        return Evaluation(corpus, state.version, evaluate(truth, by_rules), None, None, None, None,
                          Latency.of(rules_time), None)
    assert state.classifier is not None
    by_model = [p.label for p in state.classifier.predict_many(events)]
    combined, combined_time = _decide_all(Decider(compiled, model=state), events)
    return Evaluation(corpus, state.version, evaluate(truth, by_rules), evaluate(truth, by_model),
                      evaluate(truth, combined), *_classify_latency(state, events), Latency.of(rules_time),
                      Latency.of(combined_time))


def _decide_all(decider: Decider, events: Sequence[Event]) -> tuple[list[str], list[float]]:
    labels, times = [], []
    for event in events:
        start = time.perf_counter()
        labels.append(decider.decide(event).severity)
        times.append(time.perf_counter() - start)
    return labels, times


def _classify_latency(state: ModelState, events: Sequence[Event], rounds: int = 3) -> tuple[Latency, Latency]:
    """Per-event time of what the Decider adds for the model (predict + the fact).

    Every sample counts (no best-of); the garbage collector is paused while timing so that a
    collection triggered by the benchmark's own lists is not charged to one event.
    """
    samples, cpu = [], []
    for event in events[:200]:  # warm caches
        intelligence.predict(state, event)
    gc.disable()
    try:
        for _ in range(rounds):
            for event in events:
                start, start_cpu = time.perf_counter(), time.thread_time()
                verdict = intelligence.predict(state, event)
                if verdict is not None:
                    verdict.fact()
                samples.append(time.perf_counter() - start)
                cpu.append(time.thread_time() - start_cpu)
    finally:
        gc.enable()
    return Latency.of(samples), Latency.of(cpu)


def format_evaluation(ev: Evaluation) -> str:
    """The three reports and the latency lines, as ``rules evaluate`` prints them."""
    parts = [f"corpus {ev.corpus}, model {ev.model_version}", "",
             format_report("rules alone (shipped policy, no model facts)", ev.rules)]
    if (ev.model is None or ev.combined is None or ev.classify is None or ev.classify_cpu is None
            or ev.decide_combined is None):
        parts += ["", f"model alone: not evaluated ({ev.model_version})", "combined: not evaluated"]
    else:
        parts += ["", format_report("model alone", ev.model), "",
                  format_report("combined (rules with model facts: what the engine decides)", ev.combined), "",
                  f"latency: classification in the engine p50 {ev.classify.p50_us:.0f} µs, "
                  f"p99 {ev.classify.p99_us:.0f} µs per event (wall clock); thread CPU time p50 "
                  f"{ev.classify_cpu.p50_us:.0f} µs, p99 {ev.classify_cpu.p99_us:.0f} µs",
                  f"latency: Decider.decide p50 {ev.decide_rules.p50_us:.0f} µs / p99 {ev.decide_rules.p99_us:.0f} µs"
                  f" without the model, p50 {ev.decide_combined.p50_us:.0f} µs / p99 "
                  f"{ev.decide_combined.p99_us:.0f} µs with it"]
    summary = [("rules", ev.rules), ("model", ev.model), ("combined", ev.combined)]
    parts += ["", "summary: " + "; ".join(f"{name} accuracy {r.accuracy:.4f} macro-F1 {r.macro_f1:.4f} "
                                          f"FPR {r.fpr:.2%}" for name, r in summary if r is not None)]
    return "\n".join(parts)
