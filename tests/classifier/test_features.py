"""engine.classifier.features: shape, determinism, missing metrics, fast hashing == HashingVectorizer."""

from __future__ import annotations

import numpy as np
import pytest

from engine.classifier import features as F
from engine.model.event import Event


def make(**overrides: object) -> Event:
    doc = {
        "event_id": "t-1",
        "timestamp": "2025-01-01T00:00:00Z",
        "service": "payment-api",
        "title": "High error rate on payment-api",
        "description": "Error rate 7% over 10m; upstream timeouts.",
        "metrics": {"error_rate": 0.07, "latency_p99_ms": 640.0, "healthy_hosts": 3, "total_hosts": 4},
        "logs": [{"level": "fatal", "message": "OOMKilled", "count": 4}],
        "traces": {"error_spans": 10, "slow_spans": 5, "total_spans": 100},
        "conditions": {"crash_loop": True},
    }
    doc.update(overrides)
    return Event.model_validate(doc)


def column(name: str) -> int:
    return F.NUMERIC_NAMES.index(name)


def test_row_has_fixed_width_and_numeric_then_text_blocks() -> None:
    row = F.vectorize(make())
    assert row.shape == (1, F.N_FEATURES) == (1, len(F.NUMERIC_NAMES) + F.N_TEXT_FEATURES)
    assert row[0, len(F.NUMERIC_NAMES) :].nnz > 0  # text was hashed
    dense = row.toarray()[0]
    assert dense[column("condition:crash_loop")] == 1.0
    assert dense[column("error_rate>=0.05")] == 1.0 and dense[column("error_rate>=0.1")] == 0.0
    assert dense[column("latency_p99_ms>=500")] == 1.0 and dense[column("latency_p99_ms>=1000")] == 0.0
    assert dense[column("healthy_host_ratio<0.8")] == 1.0 and dense[column("healthy_host_ratio<0.5")] == 0.0


def test_same_event_gives_the_same_row_single_and_batch() -> None:
    a, b = make(), make(title="Deploy finished", metrics={"cpu_utilization": 0.4})
    batch = F.vectorize_many([a, b])
    assert batch.shape == (2, F.N_FEATURES)
    for i, event in enumerate((a, b)):
        single = F.vectorize(event)
        assert (single != F.vectorize(event)).nnz == 0
        assert abs(single - batch[i]).max() < 1e-12


def test_missing_metrics_set_indicators_and_leave_thresholds_unset() -> None:
    dense = F.numeric_features(make(metrics={}, logs=[], conditions={}))
    for metric in ("availability", "error_rate", "latency_p99_ms", "total_hosts"):
        assert dense[column(f"missing:{metric}")] == 1.0
    assert dense[column("availability<0.5")] == 0.0  # a missing availability is not an outage
    assert dense[column("error_rate>=0.001")] == 0.0
    present = F.numeric_features(make())
    assert present[column("missing:error_rate")] == 0.0 and present[column("missing:availability")] == 1.0


@pytest.mark.parametrize(
    "text",
    [
        "High error rate on payment-api: 5xx above SLO",
        "ÄÖÜ café naïve – unicode déjà vu 東京 サービス",
        "a b c",  # no token of two characters: empty row
        "repeat repeat repeat logfatal_oomkilled logfatal_oomkilled",
        "",
    ],
)
def test_fast_hashing_matches_hashing_vectorizer(text: str) -> None:
    expected = F._VECTORIZER.transform([text])
    idx, val = F._hash_text(text)
    got = np.zeros(F.N_TEXT_FEATURES)
    got[idx] = val
    assert np.allclose(got, expected.toarray()[0], atol=1e-12)


def test_log_words_are_prefixed_with_their_level() -> None:
    text = F.event_text(make(logs=[{"level": "critical", "message": "Unauthorized access to records"}]))
    assert "logcritical_unauthorized" in text and "logcritical_access" in text


def test_huge_log_counts_saturate_instead_of_extrapolating() -> None:
    """A flood of benign lines (any count up to 2**53 - 1 is valid) must not outweigh everything else."""
    from engine.classifier.model import load_classifier

    def flooded(count: int) -> Event:
        return make(logs=[{"level": "fatal", "message": "OOMKilled", "count": 4},
                          {"level": "debug", "message": "heartbeat ok", "count": count},
                          {"level": "info", "message": "request served", "count": count}])

    at_cap, huge = flooded(2000), flooded(2**53 - 1)  # 2000: above every count of the shipped corpora
    assert np.array_equal(F.numeric_features(huge), F.numeric_features(at_cap))
    assert np.array_equal(F.numeric_block([huge, at_cap]), np.vstack([F.numeric_features(at_cap)] * 2))
    shipped = load_classifier()
    assert shipped.predict(huge) == shipped.predict(at_cap) == shipped.predict_many([huge])[0]


def test_warm_loads_the_batch_path_before_the_first_event() -> None:
    """The daemon warms the model at start: scikit-learn's vectorizer and scipy are loaded then, not in
    the first storm's first batch (a fresh interpreter, so nothing else has imported them)."""
    import subprocess
    import sys

    code = ("import sys\nfrom engine.decide import classify as c\nfrom engine.classifier import features as f\n"
            "s = c.load_model(None)\nassert s.classifier is not None, s\n"
            "before = 'scipy.sparse' in sys.modules, f._vectorizer.cache_info().currsize\n"
            "c.warm(s)\nprint(before, ('scipy.sparse' in sys.modules, f._vectorizer.cache_info().currsize))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.split() == ["(False,", "0)", "(True,", "1)"]
