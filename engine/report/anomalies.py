"""Explainable trend detectors for small incident counts, with false-discovery control across services.

Counts per service are small (0–10 a day, many zeros), so every test is exact for counts:

- **surge**: the last 24 h, 48 h and 7 d against the service's previous 28 d (84 d when those 28 hold fewer
  than 28 incidents: a sparse rate needs a longer baseline to be known), the exact
  conditional Poisson test (under no change, the recent count given the total is binomial with
  p = recent exposure / total exposure; statsmodels' ``exact-cond``). Fires when q < 0.01, count ≥ 3
  and rate ratio ≥ 2.
- **shift**: a Poisson changepoint over the last 90 daily counts: for each candidate day in the last
  14 (at least 2 days after it, 7 before), the exact test of after vs before; the best day's p is
  multiplied by the number of candidates (Bonferroni). Fires when q < 0.01, ratio ≥ 2, count after ≥ 3.
- **recurrence**: one fingerprint at the same hour of day on ≥ 3 distinct days in 14 d; binomial test of
  that hour's count against 1/24, × 24 hours. Fires when q < 0.01.
- **seasonal**: only for dense services (≥ 5 incidents an hour over 14 d): each of the last 24 hours
  against the mean of the same hour of the week in the previous weeks, Poisson, × 24.
- **repeated cause**: the same deciding rule and fingerprint ≥ 3 times in 7 d, labelled *new* (not seen
  in the 30 d before: a finding) or *frequent* (≥ 20 % of the service's incidents in 30 d) / *repeated*
  (listed as causes, not findings: a service's usual causes are not an anomaly). A threshold, no p.

All p-values of one scan (every test of every service) go through Benjamini–Hochberg together.
A service with fewer than 14 days of log or fewer than 3 incidents ever is *not assessed*, said so.
Incidents above NONE count; NONE decisions are log-only.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from scipy.special import bdtrc, pdtrc

HOUR, DAY = 3600.0, 86400.0
Q_LEVEL = 0.01  # measured: 0.05 gives 1.5 false alarms per 100 service-weeks (benchmarks/anomalies.py)
MIN_HISTORY_DAYS = 14
MIN_INCIDENTS = 3
SPARSE, SPARSE_DAYS = 28, 84  # a 28-day baseline under 1/day is extended to 84 days (benchmarks/anomalies.py)


@dataclass
class Test:
    """One hypothesis test (or threshold finding when ``p`` is None) about one service."""

    kind: str
    service: str
    p: float | None
    fires: bool  # the effect-size conditions (count, ratio) hold; the q decides the rest
    numbers: dict[str, Any]
    q: float | None = None

    def finding(self, level: float = Q_LEVEL) -> bool:
        return self.fires and (self.p is None or (self.q is not None and self.q < level))


@dataclass
class Scan:
    until: float
    tests: list[Test] = field(default_factory=list)
    not_assessed: dict[str, str] = field(default_factory=dict)  # service -> reason
    level: float = Q_LEVEL

    @property
    def findings(self) -> list[Test]:
        return [t for t in self.tests if t.finding(self.level)]

    @property
    def causes(self) -> list[Test]:
        """Repeated causes that are not new (frequent or repeated): context, not findings."""
        return [t for t in self.tests if t.kind == "repeated" and not t.finding(self.level)]


def exact_poisson(c1: int, e1: float, c2: int, e2: float) -> float:
    """One-sided p that the rate of (c1 over e1) exceeds that of (c2 over e2): exact, conditional."""
    if c1 == 0:
        return 1.0
    # P(X >= c1), X ~ Binomial(c1 + c2, e1 / (e1 + e2)): scipy.stats.binomtest(..., "greater"), without its overhead
    return min(1.0, float(bdtrc(c1 - 1, c1 + c2, e1 / (e1 + e2))))


def ratio(c1: int, e1: float, c2: int, e2: float) -> float:
    if c2 == 0:
        return math.inf if c1 else 1.0
    return (c1 / e1) / (c2 / e2)


def bh(pvalues: Sequence[float]) -> list[float]:
    """Benjamini–Hochberg adjusted q-values, in the input order."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    q = [1.0] * m
    running = 1.0
    for rank in range(m, 0, -1):
        i = order[rank - 1]
        running = min(running, pvalues[i] * m / rank)
        q[i] = min(1.0, running)
    return q


def count(times: Sequence[float], a: float, b: float) -> int:
    """How many of the sorted ``times`` are in ``[a, b)``."""
    return bisect_left(times, b) - bisect_left(times, a) if b > a else 0


def surge_tests(service: str, times: Sequence[float], until: float, origin: float) -> list[Test]:
    """``times``: the service's incident starts, sorted."""
    out = []
    for label, length in (("24h", DAY), ("48h", 2 * DAY), ("7d", 7 * DAY)):
        start, base_start = until - length, max(origin, until - length - 28 * DAY)
        c2 = count(times, base_start, start)
        if c2 < SPARSE:  # a sparse baseline: a longer one, so its rate is known well enough to test against
            base_start = max(origin, until - length - SPARSE_DAYS * DAY)
            c2 = count(times, base_start, start)
        e1, e2 = length / DAY, (start - base_start) / DAY
        if e2 < 7:
            continue
        c1 = count(times, start, until)
        r = ratio(c1, e1, c2, e2)
        out.append(Test("surge", service, exact_poisson(c1, e1, c2, e2), c1 >= 3 and r >= 2,
                        {"window": label, "count": c1, "baseline_count": c2, "baseline_days": round(e2, 1),
                         "baseline_per_day": c2 / e2, "ratio": r}))
    return out


def daily_counts(times: Iterable[float], until: float, days: int) -> list[int]:
    counts = [0] * days
    for t in times:
        k = days - 1 - int((until - t) // DAY)
        if 0 <= k < days:
            counts[k] += 1
    return counts


def shift_test(service: str, daily: Sequence[int], until: float, recent: int = 14, min_after: int = 2,
               min_before: int = 7) -> Test | None:
    n = len(daily)
    candidates = [k for k in range(max(min_before, n - recent), n - min_after + 1)]
    if not candidates:
        return None
    total = sum(daily)
    best: tuple[float, int] | None = None
    for k in candidates:
        after = sum(daily[k:])
        p = exact_poisson(after, n - k, total - after, k)
        if best is None or p < best[0]:
            best = (p, k)
    assert best is not None
    p, k = best
    after, before = sum(daily[k:]), sum(daily[:k])
    r = ratio(after, n - k, before, k)
    gain = _poisson_gain(before, k, after, n - k)
    return Test("shift", service, min(1.0, p * len(candidates)), after >= 3 and r >= 2,
                {"since": until - (n - k) * DAY, "days_after": n - k, "count_after": after,
                 "rate_before": before / k, "rate_after": after / (n - k), "ratio": r, "llr": gain,
                 "candidates": len(candidates)})


def _poisson_gain(c1: int, e1: float, c2: int, e2: float) -> float:
    """Log-likelihood gain of two Poisson rates over one."""
    def ll(c: int, e: float) -> float:
        return c * math.log(c / e) - c if c else 0.0
    return ll(c1, e1) + ll(c2, e2) - ll(c1 + c2, e1 + e2)


def recurrence_tests(service: str, rows: Sequence[dict[str, Any]], until: float, tz: ZoneInfo) -> list[Test]:
    by_fp: dict[str, list[datetime]] = defaultdict(list)
    for r in rows:
        if until - 14 * DAY <= r["start_epoch"] < until and r["fingerprint"]:
            by_fp[r["fingerprint"]].append(datetime.fromtimestamp(r["start_epoch"], tz))
    out = []
    for fp, when in sorted(by_fp.items()):
        if len(when) < 3:
            continue
        hours = Counter(t.hour for t in when)
        hour, k = min(hours.items(), key=lambda hk: (-hk[1], hk[0]))
        days = len({t.date() for t in when if t.hour == hour})
        p = min(1.0, 24 * float(bdtrc(k - 1, len(when), 1 / 24)))
        out.append(Test("recurrence", service, p, k >= 3 and days >= 3,
                        {"fingerprint": fp, "hour": hour, "count": k, "of": len(when), "days": days}))
    return out


def seasonal_tests(service: str, times: Sequence[float], until: float) -> list[Test]:
    """``times``: the service's incident starts, sorted."""
    if count(times, until - 14 * DAY, until) / (14 * 24) < 5:
        return []
    weeks = [w for w in range(1, 13) if until - (w + 1) * 7 * DAY >= min(times)]
    if len(weeks) < 2:
        return []
    out = []
    for h in range(24):
        a, b = until - (24 - h) * HOUR, until - (23 - h) * HOUR
        obs = count(times, a, b)
        past = [count(times, a - w * 7 * DAY, b - w * 7 * DAY) for w in weeks]
        expected = max(sum(past) / len(past), 0.5)
        p = min(1.0, 24 * float(pdtrc(obs - 1, expected)) if obs > 0 else 1.0)
        out.append(Test("seasonal", service, p, obs >= 2 * expected and obs >= 5,
                        {"hour_start": a, "count": obs, "expected": expected, "weeks": len(weeks)}))
    return [min(out, key=lambda t: t.p or 1.0)]


def repeated_causes(service: str, rows: Sequence[dict[str, Any]], until: float) -> list[Test]:
    rows = [r for r in rows if until - 37 * DAY <= r["start_epoch"] < until]
    recent = [r for r in rows if until - 7 * DAY <= r["start_epoch"]]
    month = [r for r in rows if until - 30 * DAY <= r["start_epoch"]]
    before = {(r["rule"], r["fingerprint"]) for r in rows if r["start_epoch"] < until - 7 * DAY}
    in_month = Counter((r["rule"], r["fingerprint"]) for r in month)
    out = []
    for (rule, fp), n in sorted(Counter((r["rule"], r["fingerprint"]) for r in recent).items()):
        if n < 3:
            continue
        share = in_month[rule, fp] / len(month)
        label = "new" if (rule, fp) not in before else ("frequent" if share >= 0.2 else "repeated")
        out.append(Test("repeated", service, None, label == "new",
                        {"rule": rule, "fingerprint": fp, "count": n, "share_30d": share, "label": label}))
    return out


def scan(rows: Iterable[dict[str, Any]], until: float, origin: float, tz: ZoneInfo,
         detectors: Sequence[str] = ("surge", "shift", "recurrence", "seasonal", "repeated"),
         level: float = Q_LEVEL) -> Scan:
    """Every detector on every service's incidents (``service``, ``severity``, ``start_epoch``, ``rule``,
    ``fingerprint``) before ``until``; ``origin`` is when the log's history starts."""
    by_service: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        if r["severity"] != "NONE" and r["start_epoch"] is not None and r["start_epoch"] < until:
            by_service[r["service"]].append(r)
    result = Scan(until, level=level)
    history_days = (until - origin) / DAY
    for service, members in sorted(by_service.items()):
        if history_days < MIN_HISTORY_DAYS or len(members) < MIN_INCIDENTS:
            result.not_assessed[service] = (f"not assessed: {history_days:.0f} days of history"
                                            if history_days < MIN_HISTORY_DAYS else
                                            f"not assessed: {len(members)} incident(s) ever")
            continue
        times = sorted(r["start_epoch"] for r in members)
        if "surge" in detectors:
            result.tests += surge_tests(service, times, until, origin)
        if "shift" in detectors:
            days = min(90, int(history_days))
            test = shift_test(service, daily_counts(times, until, days), until)
            result.tests += [test] if test else []
        if "recurrence" in detectors:
            result.tests += recurrence_tests(service, members, until, tz)
        if "seasonal" in detectors:
            result.tests += seasonal_tests(service, times, until)
        if "repeated" in detectors:
            result.tests += repeated_causes(service, members, until)
    tested = [t for t in result.tests if t.p is not None]
    for t, q in zip(tested, bh([t.p for t in tested if t.p is not None]), strict=True):
        t.q = q
    return result
