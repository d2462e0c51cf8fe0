"""``rules anomalies trends|score|heatmap`` as reports: each finding a sentence with its numbers."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from engine.report import anomalies as an
from engine.report import anomaly_score, heatmap
from engine.report.insights_model import Chart, Findings, Header, Report, Table, gc_paused
from engine.store.metrics_views import InsightsStore

LOOKBACK = 128 * an.DAY  # 90 days of daily counts + the 37 days repeated causes look at, rounded up


def _p(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.2g}" if value >= 0.001 else f"{value:.1e}"


def _ratio(r: float) -> str:
    return "∞ (none before)" if math.isinf(r) else f"{r:.1f}×"


def sentence(t: an.Test, tz: ZoneInfo) -> str:
    """The finding in words, with every number it rests on (reproducible from the log)."""
    n, pq = t.numbers, f"p = {_p(t.p)}, q = {_p(t.q)}"
    if t.kind == "surge":
        return (f"{t.service}: {n['count']} incidents in the last {n['window']} vs {n['baseline_per_day']:.2f}/day "
                f"over the previous {n['baseline_days']:g} days ({n['baseline_count']}): rate ratio "
                f"{_ratio(n['ratio'])}, exact Poisson test {pq}.")
    if t.kind == "shift":
        day = datetime.fromtimestamp(n["since"], tz).strftime("%Y-%m-%d")
        return (f"{t.service}: rate shift from {n['rate_before']:.2f}/day to {n['rate_after']:.2f}/day since {day} "
                f"({n['count_after']} incidents in {n['days_after']} days): ratio {_ratio(n['ratio'])}, "
                f"log-likelihood gain {n['llr']:.1f}, {pq} (best of {n['candidates']} candidate days, Bonferroni).")
    if t.kind == "recurrence":
        hours = f"{n['hour']:02d}:00–{(n['hour'] + 1) % 24:02d}:00"
        return (f"{t.service}: fingerprint {n['fingerprint']} recurs at {hours} ({tz.key}): {n['count']} of its "
                f"{n['of']} incidents in 14 days, on {n['days']} distinct days; "
                f"binomial test vs 1/24 × 24 hours, {pq}.")
    if t.kind == "seasonal":
        hour = datetime.fromtimestamp(n["hour_start"], tz).strftime("%a %H:00")
        return (f"{t.service}: {n['count']} incidents at {hour} vs {n['expected']:.1f} expected from the same hour of "
                f"{n['weeks']} previous weeks; Poisson × 24 hours, {pq}.")
    label = {"new": "new: not seen in the 30 days before",
             "frequent": f"frequent: {n['share_30d'] * 100:.0f} % of the service's incidents in 30 days",
             "repeated": f"{n['share_30d'] * 100:.0f} % of the service's incidents in 30 days"}[n["label"]]
    return f"{t.service}: rule {n['rule'] or '(none)'} with fingerprint {n['fingerprint'] or '(none)'} " \
           f"{n['count']} times in 7 days ({label})."


CAUSE_DAYS = 37  # recurrence looks at 14 days, repeated causes at 7 + 30


def load(store: InsightsStore, until: float, since: float | None = None,
         view: str = "insight_causes") -> tuple[list[dict[str, Any]], float]:
    """Incident rows from the lookback (or ``since`` minus the score's lookback) to ``until``, and the log's
    origin (its oldest incident: where its history begins). With ``insight_causes`` the deciding rule and
    fingerprint are read for the last 37 days only (all the detectors that use them look at); older rows
    carry empty ones."""
    origin = store.first_epoch()
    start = until - LOOKBACK
    if since is not None:
        start = min(start, since - anomaly_score.LOOKBACK_DAYS * an.DAY)
    rows = store.points(start, until, until - CAUSE_DAYS * an.DAY if view == "insight_causes" else None)
    return rows, origin if origin is not None else until


def header(store: InsightsStore, title: str, since: float, until: float, tz: str) -> Header:
    return Header(title, since, until, tz, store.rules_hashes(since, until), store.checkpoint())


DEFINITIONS = [
    ("Trends", "surge: exact conditional Poisson test of the last 24 h / 48 h / 7 d vs the previous 28 d "
               "(84 d when those hold fewer than 28 incidents); "
               "shift: Poisson changepoint over 90 daily counts (change in the last 14 d, Bonferroni over candidate "
               "days); "
               "recurrence: one fingerprint at the same hour on ≥ 3 days in 14 d (binomial vs 1/24); seasonal: "
               "dense services only (≥ 5/h), hour vs the same hour of past weeks; repeated cause: same rule and "
               "fingerprint ≥ 3 times in 7 d (a finding when new in 30 d; frequent ≥ 20 % of 30 d listed as a cause). "
               "Benjamini–Hochberg over every test "
               "of the scan; a finding needs q < 0.01 and, for rates, count ≥ 3 and ratio ≥ 2."),
    ("Not assessed", f"fewer than {an.MIN_HISTORY_DAYS} days of log or fewer than {an.MIN_INCIDENTS} incidents."),
    ("Score", "raw = (10·critical + 5·major + 2·moderate) / window hours (the brief's formula, incidents by their "
              "highest severity where they started); score = min(100, 100·raw / cap), cap 10 by default (one "
              "CRITICAL an hour is 100); percentile: mid-rank of raw among the service's past windows of the same "
              "length in the previous 90 days."),
    ("Heatmap", "a cell is the highest severity of the incidents that started in it (█ CRITICAL, ▓ MAJOR, "
                "▒ MODERATE, ░ NONE only, · none), with the count in the HTML tooltip and the CSV."),
]


@gc_paused
def trends(store: InsightsStore, until: float, tz: str) -> Report:
    zone = ZoneInfo(tz)
    rows, origin = load(store, until)
    result = an.scan(rows, until, origin, zone)
    since = until - 90 * an.DAY
    report = Report(header(store, "Anomaly trends", since, until, tz), definitions=DEFINITIONS)
    findings = sorted(result.findings, key=lambda t: (t.q if t.q is not None else 0.0, t.service, t.kind))
    report.blocks.append(Findings("findings", f"Findings ({len(findings)} of {len(result.tests)} tests)",
                                  [sentence(t, zone) for t in findings], "no finding at q < 0.01"))
    report.blocks.append(Findings("causes", "Repeated causes (≥ 3 in 7 days, seen before)",
                                  [sentence(t, zone) for t in result.causes]))
    empty = "every service assessed" if rows else "no incident in the last 90 days: nothing to assess"
    report.blocks.append(Findings("not_assessed", "Not assessed",
                                  [f"{s}: {why}" for s, why in result.not_assessed.items()], empty))
    services = sorted({t.service for t in findings})[:20]
    counted = [r for r in rows if r["severity"] != "NONE"]
    if services:
        report.blocks.append(Chart("daily", "Daily incidents, last 28 days (services with findings)", "line",
                                   [str(k) for k in range(28)],
                                   {s: [float(c) for c in an.daily_counts(
                                       [r["start_epoch"] for r in counted if r["service"] == s], until, 28)]
                                    for s in services}, "incidents/day"))
    report.data = {"tests": [{"kind": t.kind, "service": t.service, "p": t.p, "q": t.q, "finding": t.finding(),
                              **t.numbers} for t in result.tests], "not_assessed": result.not_assessed}
    return report


@gc_paused
def score(store: InsightsStore, since: float, until: float, tz: str, cap: float = anomaly_score.DEFAULT_CAP,
          top: int = 20) -> Report:
    rows, origin = load(store, until, since, "insight_incidents")
    scores = anomaly_score.scores(rows, since, until, origin, cap)
    report = Report(header(store, "Risk score", since, until, tz), definitions=DEFINITIONS[2:3])
    shown = [*scores[:-1][:top], scores[-1]]
    report.blocks.append(Table("score", f"Risk score (cap {cap:g}), top {top}",
                               ["service", "score", "critical", "major", "moderate", "raw", "percentile",
                                "past windows"], [s.as_row() for s in shown]))
    report.data = {"scores": [vars(s) for s in scores], "cap": cap}
    return report


@gc_paused
def heatmap_report(store: InsightsStore, since: float, until: float, tz: str, bucket_hours: float = 24,
                   top: int = 30) -> Report:
    rows = store.rows("insight_incidents", since, until)
    hm = heatmap.build(rows, since, until, bucket_hours, ZoneInfo(tz),
                       title=f"Service incident heatmap ({bucket_hours:g} h buckets)")
    hm.services, hm.cells = hm.services[:top], hm.cells[:top]
    report = Report(header(store, "Service incident heatmap", since, until, tz), [hm], DEFINITIONS[3:4])
    report.data = {"services": hm.services, "buckets": hm.buckets,
                   "cells": [[{"severity": s, "count": n} for s, n in row] for row in hm.cells]}
    return report
