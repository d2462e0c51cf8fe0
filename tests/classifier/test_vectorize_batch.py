"""vectorize_many (column-wise numeric block, cached text rows) builds exactly the straightforward matrix.

The shipped model is pinned by SHA-256 and must not be retrained, so the batch feature matrix must stay
bit-identical to what it was trained and evaluated on: the reference below is the original code
(``numeric_features`` per event, ``HashingVectorizer.transform`` on every text, ``hstack``; ``derive``
is compared with its first form in tests/model/test_event.py), kept here verbatim, and every comparison
is exact (indices, order, float bits).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.classifier import features as F
from engine.classifier.model import Classifier, _softmax, load_classifier
from engine.model.event import STANDARD_CONDITIONS, STANDARD_METRICS, Event, derive

REPO = Path(__file__).resolve().parents[2]


def reference_numeric_features(event: Event) -> np.ndarray:
    m = event.metrics
    signals: dict[str, float] = {k: m[k] for k in F._SIGNALS if k in m}
    signals.update(derive(event))  # pinned to its first form by tests/model/test_event.py
    out = [0.0 if name in m else 1.0 for name in STANDARD_METRICS]
    for s in F._SIGNALS:
        v = signals.get(s)
        if v is None:
            out += [0.0] * (1 + len(F.EDGES_ABOVE.get(s, ())) + len(F.EDGES_BELOW.get(s, ())))
            continue
        out.append(F._scaled(s, v))
        out += [1.0 if v >= e else 0.0 for e in F.EDGES_ABOVE.get(s, ())]
        out += [1.0 if v < e else 0.0 for e in F.EDGES_BELOW.get(s, ())]
    counts = dict.fromkeys(F.LOG_LEVELS, 0)
    for line in event.logs:
        counts[line.level] += line.count
    out += [math.log1p(min(counts[lvl], F.MAX_LOG_COUNT)) / 5.0 for lvl in F.LOG_LEVELS]  # counts saturate
    out.append(1.0 if event.traces.total_spans else 0.0)
    out += [1.0 if event.conditions.get(c) else 0.0 for c in STANDARD_CONDITIONS]
    other = sum(1 for k, v in event.conditions.items() if v and k not in STANDARD_CONDITIONS)
    out += [math.log1p(other), 1.0 if event.status == "resolved" else 0.0]
    return np.asarray(out, dtype=np.float64)


def reference_vectorize_many(events: list[Event]) -> sp.csr_matrix:
    num = np.vstack([reference_numeric_features(e) for e in events]) if events else np.zeros((0, len(F.NUMERIC_NAMES)))
    text = F._VECTORIZER.transform([F.event_text(e) for e in events])
    return sp.hstack([sp.csr_matrix(num), text], format="csr")


def assert_identical(got: sp.csr_matrix, want: sp.csr_matrix) -> None:
    assert got.shape == want.shape
    assert np.array_equal(got.indptr, want.indptr)
    assert np.array_equal(got.indices, want.indices)  # same columns in the same order within each row
    assert got.data.tobytes() == want.data.tobytes()  # bit for bit


def load_corpus(name: str) -> list[Event]:
    lines = (REPO / "data" / "corpus" / name).read_text().splitlines()
    return [Event.model_validate(json.loads(line)["event"]) for line in lines]


def synthetic_events(n: int) -> list[Event]:
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        from throughput import synthetic
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    return [Event.model_validate_json(raw) for raw in synthetic(n)]


@pytest.fixture(scope="module")
def shipped() -> Classifier:
    return load_classifier()


@pytest.fixture(autouse=True)
def cold_text_cache():
    F._TEXT_CACHE.clear()
    yield
    F._TEXT_CACHE.clear()


@pytest.mark.parametrize("corpus", ["eval.jsonl", "train.jsonl"])
def test_batch_matrix_is_identical_on_the_corpus(corpus: str) -> None:
    events = load_corpus(corpus)
    want = reference_vectorize_many(events)
    assert_identical(F.vectorize_many(events), want)  # one big batch (cold cache)
    for first in range(0, len(events), 100):  # the pipeline's batches of 100 (warm cache)
        assert_identical(F.vectorize_many(events[first : first + 100]), want[first : first + 100])


def test_numeric_block_rows_equal_the_per_event_features() -> None:
    events = load_corpus("eval.jsonl")[:300] + synthetic_events(200)
    block = F.numeric_block(events)
    for i, event in enumerate(events):
        assert block[i].tobytes() == reference_numeric_features(event).tobytes()
        assert F.numeric_features(event).tobytes() == block[i].tobytes()


def test_batch_matrix_is_identical_on_the_benchmark_workload_and_empty_batches() -> None:
    events = synthetic_events(500)
    for size in (1, 7, 100):
        for first in range(0, len(events), size):
            chunk = events[first : first + size]
            assert_identical(F.vectorize_many(chunk), reference_vectorize_many(chunk))
    assert F.vectorize_many([]).shape == (0, F.N_FEATURES)  # (the reference's transform([]) raises)


def test_text_cache_stays_bounded_and_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(F, "TEXT_CACHE_SIZE", 50)
    events = load_corpus("eval.jsonl")[:400]
    for first in range(0, len(events), 30):
        chunk = events[first : first + 30]
        assert_identical(F.vectorize_many(chunk), reference_vectorize_many(chunk))
        assert len(F._TEXT_CACHE) <= 50


def test_probabilities_are_bit_identical(shipped: Classifier) -> None:
    events = load_corpus("eval.jsonl")
    weights = np.vstack([shipped._w_num, shipped._w_text])
    want = _softmax(reference_vectorize_many(events) @ weights + shipped._bias)
    for first in range(0, len(events), 100):
        got = shipped.probabilities_many(events[first : first + 100])
        assert [list(row.values()) for row in got] == want[first : first + 100].tolist()
    labels = [p.label for p in shipped.predict_many(events)]
    assert labels == [shipped.labels[i] for i in want.argmax(axis=1)]


names = st.sampled_from([*STANDARD_METRICS, "healthy_host_ratio", "load_ratio", "log_errors", "trace_slow_ratio",
                         "custom"])
values = (st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from([0.0, -0.0, 1.0, 0.5, 0.85, 0.999, 1e-3,
                                                                               500.0, 1000.0, 1e300, 1e-300, -5.0])
          | st.integers(-10, 10**6).map(float))
# 2**53 - 1: engine.model.event.MAX_COUNT, the largest count an event may carry
counts = st.integers(0, 10) | st.integers(0, 10**7) | st.sampled_from([0, 1, 10, 49, 50, 200, 4095, 4096, 2**53 - 1])


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(st.fixed_dictionaries({}, optional={
    "status": st.sampled_from(["firing", "resolved"]),
    "title": st.sampled_from(["", "High error rate", "disk full on db-1", "a b"]),
    "metrics": st.dictionaries(names, values, max_size=8),
    "logs": st.lists(st.fixed_dictionaries({"level": st.sampled_from(F.LOG_LEVELS)}, optional={
        "message": st.sampled_from(["", "OOMKilled", "upstream 503 timeout"]), "count": counts}), max_size=4),
    "traces": st.fixed_dictionaries({}, optional={"error_spans": counts, "slow_spans": counts, "total_spans": counts}),
    "conditions": st.dictionaries(st.sampled_from([*STANDARD_CONDITIONS, "other_a", "other_b"]), st.booleans()),
}), min_size=1, max_size=12))
def test_batch_matrix_is_identical_on_generated_edge_cases(docs: list[dict]) -> None:
    events = [Event.model_validate({"event_id": f"e{i}", "timestamp": "2025-01-01T00:00:00Z", "service": "api", **d})
              for i, d in enumerate(docs)]
    assert_identical(F.vectorize_many(events), reference_vectorize_many(events))


def test_predict_many_verdicts_equal_the_dict_form(shipped: Classifier) -> None:
    """intelligence.predict_many takes the label by argmax: the same one max() over the dict picked."""
    from engine.decide.classify import ModelState, ModelVerdict, predict_many

    state = ModelState(shipped, shipped.version)
    events = load_corpus("eval.jsonl")[:300] + synthetic_events(100)
    want = []
    for probabilities in shipped.probabilities_many(events):
        label = max(probabilities, key=probabilities.__getitem__)
        want.append(ModelVerdict(label, probabilities[label], state.version, probabilities))
    assert predict_many(state, events) == want
    assert predict_many(state, []) == []
