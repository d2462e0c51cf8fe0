"""The brief's risk score per service and overall, and how unusual the window is for that service.

``raw = (10·critical + 5·major + 2·moderate) / window_hours`` (the brief's formula, incidents by
their highest severity, counted where they started), ``score = min(100, 100·raw / cap)`` with
``cap = 10`` by default (one CRITICAL an hour scores 100). The *percentile* is the mid-rank of this
window's raw among the service's own past windows of the same length over the previous 90 days
(those after the log's start): 50 means a typical window for it, 100 its worst.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

WEIGHTS = {"CRITICAL": 10, "MAJOR": 5, "MODERATE": 2}
DEFAULT_CAP = 10.0
LOOKBACK_DAYS = 90


@dataclass
class Score:
    service: str
    critical: int
    major: int
    moderate: int
    window_hours: float
    raw: float
    score: float
    percentile: float | None
    past_windows: int

    def as_row(self) -> list[Any]:
        pct = "—" if self.percentile is None else f"{self.percentile:.0f}"
        return [self.service, round(self.score, 1), self.critical, self.major, self.moderate,
                f"{self.raw:.3f}", pct, self.past_windows]


def raw_score(counts: dict[str, int], hours: float) -> float:
    return sum(WEIGHTS[s] * counts.get(s, 0) for s in WEIGHTS) / hours


def scale(raw: float, cap: float = DEFAULT_CAP) -> float:
    return min(100.0, 100.0 * raw / cap)


def percentile(value: float, past: list[float]) -> float | None:
    """Mid-rank percentile (scipy's ``percentileofscore(kind="mean")``)."""
    if not past:
        return None
    s = sorted(past)
    below, upto = bisect_left(s, value), bisect_right(s, value)
    return 100.0 * (below + upto) / (2 * len(s))


def scores(rows: Iterable[dict[str, Any]], since: float, until: float, origin: float,
           cap: float = DEFAULT_CAP) -> list[Score]:
    """One score per service with an incident in the window or its lookback, highest first; then "overall"."""
    length = until - since
    hours = length / 3600
    n_past = int(min(LOOKBACK_DAYS * 86400, since - origin) // length) if since > origin else 0
    windows = n_past + 1  # index 0: the window itself; k: k windows back
    per: dict[str, list[dict[str, int]]] = defaultdict(lambda: [defaultdict(int) for _ in range(windows)])
    overall: list[dict[str, int]] = [defaultdict(int) for _ in range(windows)]
    for r in rows:
        t, sev = r["start_epoch"], r["severity"]
        if t is None or sev not in WEIGHTS or t >= until:
            continue
        k = int((until - t) // length)
        if k < windows:
            per[r["service"]][k][sev] += 1
            overall[k][sev] += 1
    out = [_score(name, counts, hours, cap) for name, counts in per.items()]
    out = [s for s in out if s.raw > 0 or s.past_windows]
    out.sort(key=lambda s: (-s.raw, s.service))
    return [*out, _score("overall", overall, hours, cap)]


def _score(name: str, counts: Sequence[dict[str, int]], hours: float, cap: float) -> Score:
    now = counts[0]
    raw = raw_score(now, hours)
    past = [raw_score(c, hours) for c in counts[1:]]
    return Score(name, now.get("CRITICAL", 0), now.get("MAJOR", 0), now.get("MODERATE", 0), hours, raw,
                 scale(raw, cap), percentile(raw, past), len(past))
