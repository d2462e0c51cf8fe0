"""The metric contract: every figure against an independent computation from the generated truth."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from insights_kit import DAY, Truth, Writer, random_history
from scipy.stats import CensoredData, ecdf

from engine.report import metrics as m
from engine.store.metrics_views import InsightsStore

T0 = datetime(2026, 11, 2, tzinfo=ZoneInfo("UTC")).timestamp()  # a Monday


def km_reference(observed: list[float], censored: list[float]) -> float | None:
    sf = ecdf(CensoredData(uncensored=observed, right=censored)).sf
    below = sf.quantiles[sf.probabilities <= 0.5 + 1e-9]  # S exactly 0.5 (rounded above) is the median
    return float(below[0]) if len(below) else None


def truth_durations(truths: list[Truth], metric: str, since: float, until: float) -> tuple[dict, dict]:
    """(observed id → seconds, censored id → seconds) computed from what really happened."""
    observed, censored = {}, {}
    for t in truths:
        if not since <= t.start < until:
            continue
        if metric == "mttd":
            start, end, stop = t.start, t.decided, None
        elif metric == "mtta":
            start, end, stop = t.page, t.ack, t.resolve
        elif metric == "mttr":
            start, end, stop = t.page, t.resolve, None
        else:  # mttr_detect
            if t.severity == "NONE":
                continue
            start, end, stop = t.start, t.resolve, None
        if start is None or start >= until:
            continue
        if end is not None and end < until:
            observed[t.incident_id] = max(0.0, end - start)
        else:
            censored[t.incident_id] = (stop if stop is not None and stop < until else until) - start
    return observed, censored


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory):
    return random_history(tmp_path_factory.mktemp("h") / "audit.db", 400, T0, days=14)


@pytest.mark.parametrize("metric", ["mttd", "mtta", "mttr", "mttr_detect"])
def test_durations_match_an_independent_computation(history, metric: str) -> None:
    since, until = T0 + 2 * DAY, T0 + 13.99 * DAY  # the end cuts some incidents short: censored at the window end
    with InsightsStore.open(history.path) as store:
        stats = m.compute(store, since, until, ("overall", "severity"), (metric,))
    for stat in stats:
        truths = [t for t in history.truths if stat.by == "overall" or t.severity == stat.group]
        obs, cens = truth_durations(truths, metric, since, until)
        values = list(obs.values())
        assert stat.n == len(obs) + len(cens) and stat.n_censored == len(cens)
        assert stat.ids == sorted(obs) and stat.censored_ids == sorted(cens)
        assert stat.median == pytest.approx(np.median(values), abs=0.01)
        assert stat.p90 == pytest.approx(np.percentile(values, 90), abs=0.01)
        assert stat.mean == pytest.approx(np.mean(values), abs=0.01)
        ref = km_reference(values, list(cens.values()))
        assert (stat.km_median is None) == (ref is None)
        if ref is not None:
            assert stat.km_median == pytest.approx(ref, abs=0.01)
    if metric == "mtta":
        assert any(s.n_censored for s in stats), "the history must contain never-acked incidents"


def test_rates_match_the_truth(history) -> None:
    since, until = T0, T0 + 15 * DAY
    with InsightsStore.open(history.path) as store:
        esc, fp = m.compute(store, since, until, ("overall",), ("escalation", "false_positive"))
    paged = [t for t in history.truths if t.page is not None]
    escalated = sorted(t.incident_id for t in paged if t.escalated is not None)
    assert esc.n == len(paged) and esc.ids == escalated
    assert esc.rate == pytest.approx(100 * len(escalated) / len(paged))
    assert esc.extra["timeout"] == len(escalated) and esc.extra["manual"] == 0
    rank = {s: i for i, s in enumerate(("NONE", "MODERATE", "MAJOR", "CRITICAL"))}
    confirmed = [t for t in history.truths if t.confirmed is not None]
    fps = sorted(t.incident_id for t in confirmed if rank[t.severity] > rank[t.confirmed])
    assert fp.n == len(history.truths) and fp.extra["confirmed"] == len(confirmed)
    assert fp.extra["unconfirmed"] == len(history.truths) - len(confirmed)
    assert fp.ids == fps and fp.rate == pytest.approx(100 * len(fps) / len(confirmed))
    assert fp.extra["coverage"] == pytest.approx(100 * len(confirmed) / len(history.truths))
    with InsightsStore.open(history.path) as store:
        (mttr,) = m.compute(store, since, until, ("overall",), ("mttr",))
    resolved = [t for t in paged if t.resolve is not None]
    assert (mttr.extra["resolved_auto"], mttr.extra["resolved_human"]) == (
        sum(t.resolved_by == "auto" for t in resolved), sum(t.resolved_by == "human" for t in resolved))


def _acks(tmp_path: Path, acks: list[float | None], page_offset: float = 10.0) -> Path:
    w = Writer(tmp_path / "a.db")
    for k, a in enumerate(acks):
        start = T0 + k * 60
        page = start + page_offset
        w.add(Truth(f"I{k}", "svc", "team", "MAJOR", start, start + 1, page=page,
                    ack=None if a is None else page + a, targets=("alice@x", "bob@x")))
    return w.close().path


def test_never_acked_is_censored_not_dropped_and_makes_the_status_worse(tmp_path: Path) -> None:
    path = _acks(tmp_path, [60, 120, 150, None, None])
    with InsightsStore.open(path) as store:
        (stat,) = m.compute(store, T0, T0 + DAY, ("overall",), ("mtta",))
    assert (stat.n, stat.n_censored, stat.censored_ids) == (5, 2, ["I3", "I4"])
    assert stat.median == 120 and stat.mean == pytest.approx(110)  # the plain figures: met (< 3 min)
    assert stat.km_median == pytest.approx(150)  # S: 0.8, 0.6, 0.4 -> 150 s
    assert stat.status == "met"
    (tmp_path / "b").mkdir()
    path2 = _acks(tmp_path / "b", [60, 120, 200, None, None])
    with InsightsStore.open(path2) as store:
        (stat2,) = m.compute(store, T0, T0 + DAY, ("overall",), ("mtta",))
    assert stat2.mean == pytest.approx(126.67, abs=0.01) and stat2.km_median == pytest.approx(200)
    assert stat2.status == "warning"  # the mean alone says met; the censored incidents push the KM median over 3 min


def test_an_ack_before_the_page_is_clamped_to_zero_and_counted(tmp_path: Path) -> None:
    path = _acks(tmp_path, [-5, 30])
    with InsightsStore.open(path) as store:
        (stat,) = m.compute(store, T0, T0 + DAY, ("overall",), ("mtta",))
    assert stat.median == 15 and stat.extra["clamped"] == 1


def test_interruptions_by_local_hour_class(tmp_path: Path) -> None:
    paris = ZoneInfo("Europe/Paris")
    w = Writer(tmp_path / "i.db")
    local = [(2026, 11, 2, 10), (2026, 11, 2, 19), (2026, 11, 2, 23), (2026, 11, 7, 11), (2026, 11, 8, 3)]
    for k, (y, mo, d, h) in enumerate(local):
        page = datetime(y, mo, d, h, 30, tzinfo=paris).timestamp()
        w.add(Truth(f"P{k}", "svc", "team", "CRITICAL", page - 5, page - 4, page=page,
                    targets=("alice@x", "bob@x"), escalated=page + 300 if k == 0 else None))
    path = w.close().path
    with InsightsStore.open(path) as store:
        people = m.interruptions(store, T0 - DAY, T0 + 7 * DAY, paris)
    by = {p["person"]: p for p in people}
    # Mon 10:30 business, Mon 19:30 off, Mon 23:30 sleep, Sat 11:30 off, Sun 03:30 sleep; the two channels of
    # one page are one interruption; bob is paged once, by the escalation step of P0 (Mon 10:35, business)
    assert (by["alice@x"]["business"], by["alice@x"]["off"], by["alice@x"]["sleep"]) == (1, 2, 2)
    assert (by["bob@x"]["business"], by["bob@x"]["total"]) == (1, 1)
    assert "S0CHANNEL" not in by


def test_the_views_are_plain_sql_for_datasette(history) -> None:
    conn = sqlite3.connect(history.path)
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'view'")}
    assert {"metric_mttd", "metric_mtta", "metric_mttr", "metric_escalation", "metric_false_positive",
            "metric_interruptions"} <= names
    paged = sum(1 for t in history.truths if t.page is not None)
    assert conn.execute("SELECT count(*) FROM metric_mtta").fetchone()[0] == paged
    conn.close()


def test_json_lists_the_incident_ids_behind_each_figure(history) -> None:
    from engine.report import insights_render, metrics_report

    with InsightsStore.open(history.path) as store:
        report = metrics_report.build(store, T0, T0 + 15 * DAY, "UTC", ("overall",))
    doc = json.loads(insights_render.to_json(report))
    mtta = next(x for x in doc["data"]["metrics"] if x["metric"] == "mtta")
    acked = sorted(t.incident_id for t in history.truths if t.page is not None and t.ack is not None)
    assert mtta["ids"] == acked and mtta["unit"] == "s" and mtta["target"] == 180
    assert doc["checkpoint"]["decisions"] == len(history.truths)
    assert doc["window"]["tz"] == "UTC" and doc["rules_hashes"] == ["ab" * 32]
