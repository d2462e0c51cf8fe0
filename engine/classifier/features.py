"""Feature extraction: a canonical :class:`~engine.event.Event` → one scipy sparse row.

The row is ``[numeric block | text block]``. The numeric block (:data:`NUMERIC_NAMES`) holds,
per metric, a missing-indicator, a scaled value and a *thermometer* encoding (``1`` for every
edge the value has crossed) at fixed edges, so a linear model can weigh "error_rate ≥ 0.05"
without learning a threshold; plus :func:`engine.event.derive` signals, log-level counts, trace
ratios and condition flags. The text block hashes the title, the description and the log
messages (each log word prefixed with its level, ``logfatal_oomkilled``) with a stateless
``HashingVectorizer`` of :data:`N_TEXT_FEATURES` columns. Nothing here is fitted, so the same
event always gives the same row, in any process.

:func:`vectorize_many` uses ``HashingVectorizer`` directly; :func:`event_parts` (the
per-event path the model uses) re-implements its hashing in plain Python because one
``transform`` call costs about 200 µs; a test keeps the two identical.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.utils import murmurhash3_32

from engine.event import STANDARD_CONDITIONS, STANDARD_METRICS, Event, derive

FEATURE_VERSION = 1
N_TEXT_FEATURES = 2**12
LOG_LEVELS = ("debug", "info", "warning", "error", "critical", "fatal")

# Thermometer edges. They include the severity matrix's levels (availability 0.5/0.99,
# error_rate 0.01/0.05, latency 500/1000 ms, cpu/memory 0.85, 50 error logs, host ratio 0.5)
# and points in between, so the model can also weigh values the matrix does not name.
EDGES_ABOVE: dict[str, tuple[float, ...]] = {
    "error_rate": (0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25),
    "latency_p99_ms": (200, 350, 500, 750, 1000, 2000, 5000),
    "cpu_utilization": (0.5, 0.7, 0.85, 0.95),
    "memory_utilization": (0.5, 0.7, 0.85, 0.95),
    "load_ratio": (1.5, 3, 10),
    "log_errors": (1, 10, 50, 200),
    "log_warnings": (10, 50),
    "trace_error_ratio": (0.01, 0.05, 0.2),
    "trace_slow_ratio": (0.05, 0.2),
}
EDGES_BELOW: dict[str, tuple[float, ...]] = {
    "availability": (0.5, 0.9, 0.99, 0.999),
    "healthy_host_ratio": (0.5, 0.8, 0.999),
}


def _scaled(name: str, value: float) -> float:
    """One continuous column per signal, squashed to roughly 0–1."""
    if name == "availability":
        return 1.0 - min(max(value, 0.0), 1.0)
    if name == "latency_p99_ms":
        return math.log10(max(value, 0.0) + 1.0) / 4.0
    if name in (
        "error_rate",
        "cpu_utilization",
        "memory_utilization",
        "healthy_host_ratio",
        "trace_error_ratio",
        "trace_slow_ratio",
    ):
        return min(max(value, 0.0), 1.5)
    if name == "load_ratio":
        return min(max(math.log2(max(value, 1e-3)), -4.0), 6.0) / 4.0
    return math.log1p(max(value, 0.0)) / 5.0  # counts: log_errors, log_warnings


_SIGNALS = (
    "availability",
    "error_rate",
    "latency_p99_ms",
    "cpu_utilization",
    "memory_utilization",
    "healthy_host_ratio",
    "load_ratio",
    "log_errors",
    "log_warnings",
    "trace_error_ratio",
    "trace_slow_ratio",
)


def _numeric_names() -> tuple[str, ...]:
    names = [f"missing:{m}" for m in STANDARD_METRICS]
    for s in _SIGNALS:
        names.append(f"value:{s}")
        names += [f"{s}>={e:g}" for e in EDGES_ABOVE.get(s, ())]
        names += [f"{s}<{e:g}" for e in EDGES_BELOW.get(s, ())]
    names += [f"log_count:{lvl}" for lvl in LOG_LEVELS]
    names += ["has_traces"] + [f"condition:{c}" for c in STANDARD_CONDITIONS]
    names += ["conditions_other_true", "status_resolved"]
    return tuple(names)


NUMERIC_NAMES = _numeric_names()
N_FEATURES = len(NUMERIC_NAMES) + N_TEXT_FEATURES


def numeric_features(event: Event) -> np.ndarray:
    """The numeric block for one event, in :data:`NUMERIC_NAMES` order (float64)."""
    m = event.metrics
    signals: dict[str, float] = {k: m[k] for k in _SIGNALS if k in m}
    signals.update(derive(event))
    out = [0.0 if name in m else 1.0 for name in STANDARD_METRICS]
    for s in _SIGNALS:
        v = signals.get(s)
        if v is None:
            out += [0.0] * (1 + len(EDGES_ABOVE.get(s, ())) + len(EDGES_BELOW.get(s, ())))
            continue
        out.append(_scaled(s, v))
        out += [1.0 if v >= e else 0.0 for e in EDGES_ABOVE.get(s, ())]
        out += [1.0 if v < e else 0.0 for e in EDGES_BELOW.get(s, ())]
    counts = dict.fromkeys(LOG_LEVELS, 0)
    for line in event.logs:
        counts[line.level] += line.count
    out += [math.log1p(counts[lvl]) / 5.0 for lvl in LOG_LEVELS]
    out.append(1.0 if event.traces.total_spans else 0.0)
    out += [1.0 if event.conditions.get(c) else 0.0 for c in STANDARD_CONDITIONS]
    other = sum(1 for k, v in event.conditions.items() if v and k not in STANDARD_CONDITIONS)
    out += [math.log1p(other), 1.0 if event.status == "resolved" else 0.0]
    return np.asarray(out, dtype=np.float64)


_WORD = re.compile(r"\w\w+")


def event_text(event: Event) -> str:
    """Title, description and level-prefixed log words, as one document for hashing."""
    parts = [event.title, event.description]
    for line in event.logs:
        parts.append(" ".join(f"log{line.level}_{w}" for w in _WORD.findall(line.message.lower())))
    return "\n".join(parts)


# Must stay identical to _hash_text below (tests/classifier/test_features.py checks it).
_VECTORIZER = HashingVectorizer(
    n_features=N_TEXT_FEATURES, ngram_range=(1, 2), alternate_sign=False, norm="l2", lowercase=True
)
_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # HashingVectorizer's default token_pattern


def _hash_text(text: str) -> tuple[np.ndarray, np.ndarray]:
    """(column indices, l2-normalised counts) exactly as ``_VECTORIZER`` computes them."""
    tokens = _TOKEN.findall(text.lower())
    grams = tokens + [f"{a} {b}" for a, b in zip(tokens, tokens[1:], strict=False)]
    counts: dict[int, float] = {}
    for g in grams:
        h = murmurhash3_32(g, seed=0)
        idx = (
            (2147483647 - (N_TEXT_FEATURES - 1)) % N_TEXT_FEATURES
            if h == -2147483648
            else abs(h) % N_TEXT_FEATURES
        )
        counts[idx] = counts.get(idx, 0.0) + 1.0
    if not counts:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    idx_arr = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
    val_arr = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
    return idx_arr, val_arr / math.sqrt(float(val_arr @ val_arr))


def event_parts(event: Event) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fast per-event form: (numeric block, text column indices, text values)."""
    idx, val = _hash_text(event_text(event))
    return numeric_features(event), idx, val


def vectorize(event: Event) -> sp.csr_matrix:
    """One event → a ``1 × N_FEATURES`` CSR row."""
    num, idx, val = event_parts(event)
    nz = np.flatnonzero(num)
    order = np.argsort(idx)
    cols = np.concatenate([nz, idx[order] + len(NUMERIC_NAMES)])
    data = np.concatenate([num[nz], val[order]])
    return sp.csr_matrix((data, cols, [0, len(cols)]), shape=(1, N_FEATURES))


def vectorize_many(events: Sequence[Event]) -> sp.csr_matrix:
    """Events → an ``n × N_FEATURES`` CSR matrix (rows equal :func:`vectorize`'s)."""
    num = np.vstack([numeric_features(e) for e in events]) if events else np.zeros((0, len(NUMERIC_NAMES)))
    text = _VECTORIZER.transform([event_text(e) for e in events])
    return sp.hstack([sp.csr_matrix(num), text], format="csr")
