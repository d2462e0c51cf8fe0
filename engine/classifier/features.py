"""Feature extraction: a canonical :class:`~engine.model.event.Event` → one scipy sparse row.

The row is ``[numeric block | text block]``. The numeric block (:data:`NUMERIC_NAMES`) holds,
per metric, a missing-indicator, a scaled value and a *thermometer* encoding (``1`` for every
edge the value has crossed) at fixed edges, so a linear model can weigh "error_rate ≥ 0.05"
without learning a threshold; plus :func:`engine.model.event.derive` signals, log-level counts, trace
ratios and condition flags. The text block hashes the title, the description and the log
messages (each log word prefixed with its level, ``logfatal_oomkilled``) with a stateless
``HashingVectorizer`` of :data:`N_TEXT_FEATURES` columns. Nothing here is fitted, so the same
event always gives the same row, in any process.

:func:`vectorize_many` (the batch path: the pipeline classifies 100 events at a time, and
training and evaluation use it) builds exactly the matrix the straightforward form builds
(``numeric_features`` per row, ``HashingVectorizer.transform`` of every text, ``hstack``), which
a test checks entry by entry on the held-out corpus, but cheaper: the numeric block is computed
column by column over the batch (:func:`numeric_block`), and each distinct text is hashed once
(alert streams repeat titles and messages) and kept in a bounded cache. :func:`event_parts` (the
per-event path the model uses) re-implements the hashing in plain Python because one
``transform`` call costs about 200 µs; a test keeps the two identical.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from engine.model.event import STANDARD_CONDITIONS, STANDARD_METRICS, Event, derive

FEATURE_VERSION = 1
N_TEXT_FEATURES = 2**12
LOG_LEVELS = ("debug", "info", "warning", "error", "critical", "fatal")
# Log counts saturate here before they are scaled: a count far beyond anything trained on (up to 2**53 - 1
# is a valid event) would otherwise be extrapolated linearly in log space, and a flood of debug/info lines
# could outweigh everything else and flip the verdict. Above every count of the shipped corpora (max 1,035),
# so their features, the shipped model's verdicts on them and the README's figures are unchanged.
MAX_LOG_COUNT = 2000

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
    return math.log1p(min(max(value, 0.0), MAX_LOG_COUNT)) / 5.0  # counts: log_errors, log_warnings


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
    out += [math.log1p(min(counts[lvl], MAX_LOG_COUNT)) / 5.0 for lvl in LOG_LEVELS]
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
        message = line.message
        parts.append(_log_words(line.level, message) if len(message) <= 256 else _words(line.level, message))
    return "\n".join(parts)


def _words(level: str, message: str) -> str:
    return " ".join(f"log{level}_{w}" for w in _WORD.findall(message.lower()))


_log_words = functools.lru_cache(maxsize=4096)(_words)  # log lines repeat; short ones are cached


# Must stay identical to _hash_text below (tests/classifier/test_features.py checks it). Built on first
# use: scikit-learn (and scipy, for the sparse batch matrix) are imported only by the batch and
# training paths, not by a command that classifies a few events (see engine.classifier.plain).
@functools.cache
def _vectorizer() -> Any:
    from sklearn.feature_extraction.text import HashingVectorizer

    return HashingVectorizer(n_features=N_TEXT_FEATURES, ngram_range=(1, 2), alternate_sign=False, norm="l2",
                             lowercase=True)


def __getattr__(name: str) -> Any:
    if name == "_VECTORIZER":
        return _vectorizer()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def murmurhash3_32(key: str, seed: int = 0) -> int:
    """MurmurHash3 x86 32-bit of the UTF-8 bytes of ``key``, signed: ``sklearn.utils.murmurhash3_32``'s
    value (a test compares the two), in plain Python so that hashing needs no scikit-learn."""
    data = key.encode("utf-8")
    n = len(data)
    h = seed & 0xFFFFFFFF
    c1, c2 = 0xCC9E2D51, 0x1B873593
    end = n - n % 4
    for i in range(0, end, 4):
        k = int.from_bytes(data[i:i + 4], "little")
        k = (k * c1) & 0xFFFFFFFF
        k = ((k << 15) | (k >> 17)) & 0xFFFFFFFF
        k = (k * c2) & 0xFFFFFFFF
        h ^= k
        h = ((h << 13) | (h >> 19)) & 0xFFFFFFFF
        h = (h * 5 + 0xE6546B64) & 0xFFFFFFFF
    tail = data[end:]
    if tail:
        k = int.from_bytes(tail, "little")
        k = (k * c1) & 0xFFFFFFFF
        k = ((k << 15) | (k >> 17)) & 0xFFFFFFFF
        k = (k * c2) & 0xFFFFFFFF
        h ^= k
    h ^= n
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & 0xFFFFFFFF
    h ^= h >> 16
    return h - 0x100000000 if h & 0x80000000 else h


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


def vectorize(event: Event) -> Any:
    """One event → a ``1 × N_FEATURES`` CSR row."""
    import scipy.sparse as sp

    num, idx, val = event_parts(event)
    nz = np.flatnonzero(num)
    order = np.argsort(idx)
    cols = np.concatenate([nz, idx[order] + len(NUMERIC_NAMES)])
    data = np.concatenate([num[nz], val[order]])
    return sp.csr_matrix((data, cols, [0, len(cols)]), shape=(1, N_FEATURES))


def vectorize_many(events: Sequence[Event]) -> Any:
    """Events → an ``n × N_FEATURES`` CSR matrix (rows equal :func:`vectorize`'s).

    The same matrix, entry for entry and in the same order (so products with it are bit-identical),
    as ``hstack([csr_matrix(vstack(numeric_features(e) ...)), _VECTORIZER.transform(texts)])``.
    """
    n = len(events)
    num = numeric_block(events)
    num_rows, num_cols = np.nonzero(num)  # row-major: by row, then column (what csr_matrix(num) stores)
    num_data = num[num_rows, num_cols]
    text_idx, text_val = _text_rows([event_text(e) for e in events])
    text_len = np.fromiter(map(len, text_idx), dtype=np.int64, count=n)
    num_len = np.bincount(num_rows, minlength=n)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(num_len + text_len, out=indptr[1:])
    # each row: its numeric entries, then its text entries (columns offset past the numeric block)
    num_pos = np.arange(len(num_rows)) + np.repeat(indptr[:-1] - (np.cumsum(num_len) - num_len), num_len)
    text_start = indptr[:-1] + num_len
    text_pos = np.arange(int(text_len.sum())) + np.repeat(text_start - (np.cumsum(text_len) - text_len), text_len)
    nnz = int(indptr[-1])
    indices = np.empty(nnz, dtype=np.int32)
    data = np.empty(nnz, dtype=np.float64)
    indices[num_pos] = num_cols
    data[num_pos] = num_data
    if nnz > len(num_rows):
        indices[text_pos] = np.concatenate(text_idx) + len(NUMERIC_NAMES)
        data[text_pos] = np.concatenate(text_val)
    import scipy.sparse as sp

    return sp.csr_matrix((data, indices, indptr.astype(np.int32)), shape=(n, N_FEATURES))


# --- the batch numeric block ----------------------------------------------------------------------------------

_NAN = float("nan")
_NANS = (_NAN,) * len(STANDARD_METRICS)
_FALSES = (False,) * len(STANDARD_CONDITIONS)
_LEVEL_INDEX = {level: i for i, level in enumerate(LOG_LEVELS)}
_STANDARD_CONDITIONS = frozenset(STANDARD_CONDITIONS)
# Raw columns gathered per event (everything else is computed column-wise from them):
# 0-8 the standard metrics (NaN when missing), 9 healthy_host_ratio, 10 load_ratio (NaN when absent),
# 11-16 the count per log level, 17 log_errors, 18 trace_error_ratio, 19 trace_slow_ratio, 20 has_traces,
# 21-26 the standard conditions, 27 other conditions true, 28 status resolved.
_RAW_SIGNAL = {"availability": 0, "error_rate": 1, "latency_p99_ms": 2, "cpu_utilization": 3,
               "memory_utilization": 4, "healthy_host_ratio": 9, "load_ratio": 10, "log_errors": 17,
               "log_warnings": 11 + _LEVEL_INDEX["warning"], "trace_error_ratio": 18, "trace_slow_ratio": 19}
_COL = {name: i for i, name in enumerate(NUMERIC_NAMES)}
# math.log1p of small counts, looked up: the same float math.log1p returns (numpy's log1p may differ by an ulp)
_LOG1P = np.array([math.log1p(i) for i in range(4096)])


def _derived_ratio(m: dict[str, float], numerator: str, denominator: str, own: str) -> float:
    """derive()'s ratio when it has one (finite), else the metric of that name, else NaN."""
    d = m.get(denominator)
    if d:
        r = m.get(numerator, 0.0) / d
        if math.isfinite(r):
            return r
    return m.get(own, _NAN)


def _raw_row(event: Event) -> list[Any]:
    m = event.metrics
    row: list[Any] = list(map(m.get, STANDARD_METRICS, _NANS))
    row.append(_derived_ratio(m, "healthy_hosts", "total_hosts", "healthy_host_ratio") if m else _NAN)
    row.append(_derived_ratio(m, "request_rate", "baseline_request_rate", "load_ratio") if m else _NAN)
    counts = [0, 0, 0, 0, 0, 0]
    for line in event.logs:
        counts[_LEVEL_INDEX[line.level]] += line.count
    row += counts
    row.append(float(counts[3] + counts[4] + counts[5]))  # derive()'s log_errors: float of the integer sum
    traces = event.traces
    spans = traces.total_spans
    if spans:
        row += (traces.error_spans / spans, traces.slow_spans / spans, 1.0)
    else:
        row += (0.0, 0.0, 0.0)
    cond = event.conditions
    if cond:
        row += map(bool, map(cond.get, STANDARD_CONDITIONS, _FALSES))
        row.append(sum(1 for k, v in cond.items() if v and k not in _STANDARD_CONDITIONS))
    else:
        row += _FALSES
        row.append(0)
    row.append(event.status == "resolved")
    return row


def _log1p(values: np.ndarray) -> np.ndarray:
    """``math.log1p`` of each (non-negative integer) value, as float64."""
    if values.size and values.max() < len(_LOG1P):
        return _LOG1P[values.astype(np.intp)]
    flat = np.fromiter(map(math.log1p, values.ravel().tolist()), dtype=np.float64, count=values.size)
    return flat.reshape(values.shape)


def _each(fn: Callable[[float], float], values: np.ndarray) -> np.ndarray:
    return np.fromiter(map(fn, values.tolist()), dtype=np.float64, count=values.size)


def _signal_columns() -> dict[str, np.ndarray]:
    """Index arrays that place the signals' columns in :data:`NUMERIC_NAMES` (computed once)."""
    sig = {s: j for j, s in enumerate(_SIGNALS)}
    above = [(s, e) for s in _SIGNALS for e in EDGES_ABOVE.get(s, ())]
    below = [(s, e) for s in _SIGNALS for e in EDGES_BELOW.get(s, ())]
    clamp = [s for s in _SIGNALS if s not in ("availability", "latency_p99_ms", "load_ratio", "log_errors",
                                              "log_warnings")]
    return {
        "raw": np.array([_RAW_SIGNAL[s] for s in _SIGNALS]),
        "value": np.array([_COL[f"value:{s}"] for s in _SIGNALS]),
        "above_col": np.array([_COL[f"{s}>={e:g}"] for s, e in above]),
        "above_sig": np.array([sig[s] for s, _ in above]),
        "above_edge": np.array([e for _, e in above], dtype=np.float64),
        "below_col": np.array([_COL[f"{s}<{e:g}"] for s, e in below]),
        "below_sig": np.array([sig[s] for s, _ in below]),
        "below_edge": np.array([e for _, e in below], dtype=np.float64),
        "clamp": np.array([sig[s] for s in clamp]),
        "counts": np.array([sig["log_errors"], sig["log_warnings"]]),
    }


_SIG = _signal_columns()
_AVAILABILITY, _LATENCY, _LOAD = (_SIGNALS.index(s) for s in ("availability", "latency_p99_ms", "load_ratio"))


def numeric_block(events: Sequence[Event]) -> np.ndarray:
    """The numeric block of a batch, ``n × len(NUMERIC_NAMES)`` float64; row i equals
    ``numeric_features(events[i])`` exactly: the same float operations (``_scaled``, the edges), done
    column-wise; the logarithms still come from :mod:`math` (numpy's may differ in the last bit)."""
    n = len(events)
    out = np.zeros((n, len(NUMERIC_NAMES)))
    if not n:
        return out
    raw = np.array([_raw_row(e) for e in events], dtype=np.float64)
    c = _SIG
    v = raw[:, c["raw"]]  # the signals, NaN where missing
    present = ~np.isnan(v)
    scaled = np.zeros_like(v)
    scaled[:, c["clamp"]] = np.minimum(np.maximum(v[:, c["clamp"]], 0.0), 1.5)
    scaled[:, _AVAILABILITY] = 1.0 - np.minimum(np.maximum(v[:, _AVAILABILITY], 0.0), 1.0)
    scaled[:, c["counts"]] = _log1p(np.clip(v[:, c["counts"]], 0.0, MAX_LOG_COUNT)) / 5.0
    rows = present[:, _LATENCY]
    scaled[rows, _LATENCY] = _each(math.log10, np.maximum(v[rows, _LATENCY], 0.0) + 1.0) / 4.0
    rows = present[:, _LOAD]
    logs = _each(math.log2, np.maximum(v[rows, _LOAD], 1e-3))
    scaled[rows, _LOAD] = np.minimum(np.maximum(logs, -4.0), 6.0) / 4.0
    out[:, c["value"]] = np.where(present, scaled, 0.0)
    out[:, c["above_col"]] = v[:, c["above_sig"]] >= c["above_edge"]  # NaN (missing) compares false
    out[:, c["below_col"]] = v[:, c["below_sig"]] < c["below_edge"]
    out[:, : len(STANDARD_METRICS)] = np.isnan(raw[:, : len(STANDARD_METRICS)])
    first = _COL[f"log_count:{LOG_LEVELS[0]}"]
    out[:, first : first + len(LOG_LEVELS)] = _log1p(np.minimum(raw[:, 11:17], MAX_LOG_COUNT)) / 5.0
    out[:, _COL["has_traces"]] = raw[:, 20]
    first = _COL[f"condition:{STANDARD_CONDITIONS[0]}"]
    out[:, first : first + len(STANDARD_CONDITIONS)] = raw[:, 21:27]
    out[:, _COL["conditions_other_true"]] = _log1p(raw[:, 27])
    out[:, _COL["status_resolved"]] = raw[:, 28]
    return out


# --- the batch text block -------------------------------------------------------------------------------------

_TEXT_CACHE: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # text -> (sorted columns, values) of its row
TEXT_CACHE_SIZE = 4096


def _text_rows(texts: list[str]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Each text's hashed row exactly as ``_VECTORIZER.transform`` gives it (columns sorted, values):
    each distinct text is transformed once, the batch's misses in one call, and kept in a bounded cache."""
    cache, rows, missing = _TEXT_CACHE, {}, []
    for text in dict.fromkeys(texts):  # distinct, in order
        hit = cache.get(text)
        if hit is None:
            missing.append(text)
        else:
            rows[text] = hit
    if missing:
        if len(cache) + len(missing) > TEXT_CACHE_SIZE:
            cache.clear()  # bounded: a stream of ever-new texts must not grow memory
        new = _vectorizer().transform(missing)
        ptr, idx, val = new.indptr, new.indices, new.data
        for i, text in enumerate(missing):
            rows[text] = cache[text] = (idx[ptr[i] : ptr[i + 1]].copy(), val[ptr[i] : ptr[i + 1]].copy())
    return [rows[t][0] for t in texts], [rows[t][1] for t in texts]
