"""Anomaly detectors, risk score and heatmap on generated histories with known answers."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from insights_kit import DAY, SERVICES, poisson_rows, random_history
from scipy.stats import false_discovery_control, percentileofscore

from engine.report import anomalies as an
from engine.report import anomaly_score, heatmap
from engine.report.anomaly_report import sentence
from engine.store.metrics_views import InsightsStore

UTC = ZoneInfo("UTC")
UNTIL = datetime(2026, 12, 1, tzinfo=UTC).timestamp()
ORIGIN = UNTIL - 120 * DAY


def binom_tail(k: int, n: int, p: float) -> float:
    """P(X >= k), X ~ Binomial(n, p), summed term by term (independent of scipy)."""
    return sum(math.comb(n, i) * p ** i * (1 - p) ** (n - i) for i in range(k, n + 1))


def test_a_planted_surge_is_found_with_its_numbers() -> None:
    rng = random.Random(1)
    rows = poisson_rows("payment-api", [0.5] * 89 + [0.0], UNTIL, rng)
    rows += [{"service": "payment-api", "severity": "CRITICAL", "start_epoch": UNTIL - DAY + 3600 * h, "rule": "r",
              "fingerprint": f"x{h}"} for h in range(8)]
    scan = an.scan(rows, UNTIL, ORIGIN, UTC)
    (surge,) = [t for t in scan.findings if t.kind == "surge" and t.numbers["window"] == "24h"]
    n = surge.numbers
    # 0.5/day: fewer than 28 incidents in the 28 days before, so the baseline is the 84 days before
    assert sum(1 for r in rows if UNTIL - 29 * DAY <= r["start_epoch"] < UNTIL - DAY) < 28
    c2 = sum(1 for r in rows if UNTIL - 85 * DAY <= r["start_epoch"] < UNTIL - DAY)
    assert (n["count"], n["baseline_count"], n["baseline_days"]) == (8, c2, 84)
    assert surge.p == pytest.approx(binom_tail(8, 8 + c2, 1 / 85), rel=1e-9)
    assert n["ratio"] == pytest.approx(8 / (c2 / 84))
    text = sentence(surge, UTC)
    assert text.startswith("payment-api: 8 incidents in the last 24h vs ") and f"({c2})" in text and "q = " in text


def test_a_planted_rate_shift_is_found_near_its_day() -> None:
    rng = random.Random(2)
    rows = poisson_rows("auth-service", [1.0] * 84 + [4.0] * 6, UNTIL, rng)
    scan = an.scan(rows, UNTIL, ORIGIN, UTC)
    (shift,) = [t for t in scan.findings if t.kind == "shift"]
    assert abs(shift.numbers["days_after"] - 6) <= 1
    assert shift.numbers["rate_after"] > 2.5 and shift.numbers["rate_before"] < 1.5
    assert "rate shift from" in sentence(shift, UTC)


def test_flat_series_raise_no_finding_at_the_documented_level() -> None:
    """60 services × 90 days of Poisson counts with no change, scanned at 10 dates: no finding (q < 0.01)."""
    rng = random.Random(3)
    rows = []
    for s in range(60):
        rows += poisson_rows(f"svc-{s:02d}", [rng.choice([0.1, 0.5, 1, 3, 5])] * 100, UNTIL, rng,
                             fingerprint=f"fp-{s}-{rng.randrange(1000)}")
    for r in rows:  # causes vary, so "repeated cause" is not what is tested here
        r["fingerprint"] += f"-{int(r['start_epoch'] // 3600) % 7}"
    tests = findings = 0
    for k in range(10):
        until = UNTIL - k * DAY
        scan = an.scan(rows, until, UNTIL - 100 * DAY, UTC, ("surge", "shift", "recurrence", "seasonal"))
        tests += len(scan.tests)
        findings += len(scan.findings)
    assert tests > 1000 and findings == 0


def test_recurrence_at_the_same_hour_is_found() -> None:
    rng = random.Random(4)
    rows = poisson_rows("user-service", [1.0] * 90, UNTIL, rng, fingerprint="noise")
    for r in rows:
        r["fingerprint"] = f"noise-{rng.randrange(50)}"
    for d in range(1, 7):
        rows.append({"service": "user-service", "severity": "MAJOR", "rule": "r", "fingerprint": "nightly-backup",
                     "start_epoch": UNTIL - d * DAY + 2 * 3600 + 60 * d})
    scan = an.scan(rows, UNTIL, ORIGIN, UTC)
    (rec,) = [t for t in scan.findings if t.kind == "recurrence"]
    assert (rec.numbers["fingerprint"], rec.numbers["hour"], rec.numbers["count"], rec.numbers["days"]) == \
        ("nightly-backup", 2, 6, 6)
    assert rec.p == pytest.approx(min(1.0, 24 * binom_tail(6, 6, 1 / 24)))


def test_a_new_repeated_cause_is_a_finding_and_a_usual_one_is_context() -> None:
    rng = random.Random(5)
    rows = poisson_rows("svc", [1.0] * 90, UNTIL, rng, fingerprint="usual")
    rows += [{"service": "svc", "severity": "MODERATE", "rule": "severity:disk", "fingerprint": "disk-full",
              "start_epoch": UNTIL - d * DAY} for d in (1, 2, 3)]
    scan = an.scan(rows, UNTIL, ORIGIN, UTC, ("repeated",))
    (new,) = scan.findings
    assert (new.numbers["fingerprint"], new.numbers["label"], new.numbers["count"]) == ("disk-full", "new", 3)
    assert [t.numbers["fingerprint"] for t in scan.causes] == ["usual"]
    assert "not seen in the 30 days before" in sentence(new, UTC)


def test_thin_history_is_not_assessed_explicitly() -> None:
    rows = [{"service": "fresh", "severity": "MAJOR", "start_epoch": UNTIL - d * DAY, "rule": "r", "fingerprint": "f"}
            for d in range(5)]
    rows.append({"service": "rare", "severity": "MAJOR", "start_epoch": UNTIL - DAY, "rule": "r", "fingerprint": "f"})
    assert an.scan(rows, UNTIL, UNTIL - 9 * DAY, UTC).not_assessed == {
        "fresh": "not assessed: 9 days of history", "rare": "not assessed: 9 days of history"}
    assert an.scan(rows, UNTIL, ORIGIN, UTC).not_assessed == {"rare": "not assessed: 1 incident(s) ever"}


def test_benjamini_hochberg_matches_scipy() -> None:
    rng = random.Random(6)
    p = [rng.random() ** 3 for _ in range(200)]
    assert an.bh(p) == pytest.approx(list(false_discovery_control(p)), rel=1e-12)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory):
    return random_history(tmp_path_factory.mktemp("a") / "audit.db", 500, UNTIL - 40 * DAY, seed=11, days=40)


def test_every_score_matches_an_independent_computation(history) -> None:
    since, until = UNTIL - 2 * DAY, UNTIL
    with InsightsStore.open(history.path) as store:
        scores = anomaly_score.scores(store.rows("insight_incidents", since - 90 * DAY, until), since, until,
                                      store.first_epoch() or 0)
    weights = {"CRITICAL": 10, "MAJOR": 5, "MODERATE": 2, "NONE": 0}
    origin = min(t.start for t in history.truths)
    n_past = int((since - origin) // (2 * DAY))
    for s in scores:
        members = [t for t in history.truths if s.service in ("overall", t.service)]

        def raw(k: int, members=members) -> float:
            lo, hi = since - k * 2 * DAY, until - k * 2 * DAY
            return sum(weights[t.severity] for t in members if lo <= t.start < hi) / 48

        assert s.raw == pytest.approx(raw(0)) and s.score == pytest.approx(min(100, 100 * raw(0) / 10))
        past = [raw(k) for k in range(1, n_past + 1)]
        assert s.past_windows == n_past
        assert s.percentile == pytest.approx(percentileofscore(past, raw(0), kind="mean"))
    assert {s.service for s in scores} == {*SERVICES, "overall"}


def test_every_heatmap_cell_matches_an_independent_computation(history) -> None:
    paris = ZoneInfo("Europe/Paris")
    since = datetime(2026, 11, 20, tzinfo=paris).timestamp()
    until = datetime(2026, 11, 27, tzinfo=paris).timestamp()
    with InsightsStore.open(history.path) as store:
        hm = heatmap.build(store.rows("insight_incidents", since, until), since, until, 24, paris)
    rank = {"NONE": 0, "MODERATE": 1, "MAJOR": 2, "CRITICAL": 3}
    expected: dict[tuple[str, int], list] = defaultdict(lambda: [None, 0])
    for t in history.truths:
        if since <= t.start < until:
            day = (datetime.fromtimestamp(t.start, paris).date() - datetime(2026, 11, 20).date()).days
            cell = expected[(t.service, day)]
            if cell[0] is None or rank[t.severity] > rank[cell[0]]:
                cell[0] = t.severity
            cell[1] += 1
    assert len(hm.buckets) == 7 and hm.buckets[0] == "Fri 20"
    for service, row in zip(hm.services, hm.cells, strict=True):
        for day, (sev, n) in enumerate(row):
            assert (sev, n) == tuple(expected.get((service, day), [None, 0])), (service, day)


def test_day_columns_are_calendar_days_when_the_window_starts_mid_day(history) -> None:
    """The default window ends now, not at midnight: each incident still sits under the day it started on
    (the window's first and last columns are parts of a day), in the zone's calendar across a DST change."""
    paris = ZoneInfo("Europe/Paris")
    until = datetime(2026, 11, 27, 14, 30, tzinfo=paris).timestamp()
    since = until - 7 * DAY
    with InsightsStore.open(history.path) as store:
        hm = heatmap.build(store.rows("insight_incidents", since, until), since, until, 24, paris)
    assert hm.buckets == ["Fri 20", "Sat 21", "Sun 22", "Mon 23", "Tue 24", "Wed 25", "Thu 26", "Fri 27"]
    labels = [datetime.fromtimestamp(t.start, paris).strftime("%a %d") for t in history.truths
              if since <= t.start < until]
    counted = {b: sum(n for row in hm.cells for (_, n) in [row[j]]) for j, b in enumerate(hm.buckets)}
    assert counted == {b: labels.count(b) for b in hm.buckets}
    assert sum(counted.values()) == len(labels) > 0
    march = datetime(2026, 3, 27, 12, tzinfo=paris).timestamp()  # the night of 28–29 March has 23 hours
    starts = heatmap.bucket_starts(march, march + 4 * DAY, 24, paris)
    assert [datetime.fromtimestamp(s, paris).strftime("%d %H:%M") for s in starts] == [
        "27 12:00", "28 00:00", "29 00:00", "30 00:00", "31 00:00"]


def test_the_exact_poisson_test_is_scipys_binomtest() -> None:
    from scipy.stats import binomtest

    rng = random.Random(8)
    for _ in range(500):
        c1, c2, e1, e2 = rng.randrange(1, 30), rng.randrange(0, 60), rng.uniform(0.5, 7), rng.uniform(7, 28)
        ref = binomtest(c1, c1 + c2, e1 / (e1 + e2), alternative="greater").pvalue
        assert an.exact_poisson(c1, e1, c2, e2) == pytest.approx(ref, rel=1e-9, abs=1e-300)
