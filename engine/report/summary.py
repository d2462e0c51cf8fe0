"""``rules anomalies summary``: the executive report (scores, trends, metrics, automation, heatmap)."""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Callable
from zoneinfo import ZoneInfo

from engine.report import anomalies as an
from engine.report import anomaly_report as ar
from engine.report import anomaly_score, heatmap, metrics_report
from engine.report import metrics as m
from engine.report.insights_model import Chart, Findings, Report, Table, fmt_duration, gc_paused
from engine.store.metrics_views import InsightsStore

OUTCOMES = ("ok", "failed", "not-configured", "cancelled", "pending")


def automation(store: InsightsStore, since: float, until: float) -> Table:
    """What was remediated automatically and whether it worked: outcomes, then what became of the incident."""
    per: dict[str, Counter[str]] = defaultdict(Counter)
    fixed: dict[str, list[float]] = defaultdict(list)
    for r in store.remediations(since, until):
        c = per[r["action"]]
        c[r["outcome"]] += 1
        if r["outcome"] == "ok":
            resolved = r["resolve_epoch"] is not None and r["resolve_epoch"] < until
            c["resolved"] += resolved
            c["unattended"] += resolved and r["ack_epoch"] is None
            if resolved and r["done_epoch"] is not None:
                fixed[r["action"]].append(max(0.0, r["resolve_epoch"] - r["done_epoch"]))
    rows = []
    for action, c in sorted(per.items()):
        rows.append([action, sum(c[o] for o in OUTCOMES), *[c[o] for o in OUTCOMES], c["resolved"], c["unattended"],
                     fmt_duration(m.quantile(fixed[action], 0.5))])
    return Table("automation", "Automation (remediation actions)",
                 ["action", "requested", *OUTCOMES, "resolved after ok", "resolved with no ack",
                  "median ok → resolve"], rows,
                 "resolved after ok: incidents resolved after a successful remediation; with no ack: nobody "
                 "acknowledged them (the remediation worked unattended).")


@gc_paused
def build(store: InsightsStore, since: float, until: float, tz: str, cap: float = anomaly_score.DEFAULT_CAP,
          top: int = 10, progress: Callable[[str], None] = lambda _: None) -> Report:
    zone = ZoneInfo(tz)
    progress("reading incidents")
    rows, origin = ar.load(store, until, since)
    header = ar.header(store, "Incident intelligence summary", since, until, tz)
    report = Report(header, definitions=ar.DEFINITIONS + metrics_report.definitions())
    progress("scoring")
    scores = anomaly_score.scores(rows, since, until, origin, cap)
    report.blocks.append(Table("top_services", f"Top services by risk score (cap {cap:g})",
                               ["service", "score", "critical", "major", "moderate", "raw", "percentile",
                                "past windows"], [s.as_row() for s in [*scores[:-1][:top], scores[-1]]]))
    progress("scanning for trends")
    scan = an.scan(rows, until, origin, zone)
    findings = sorted(scan.findings, key=lambda t: (t.q if t.q is not None else 0.0, t.service, t.kind))
    report.blocks.append(Findings("trends", f"Trends ({len(findings)} findings of {len(scan.tests)} tests)",
                                  [ar.sentence(t, zone) for t in findings], "no finding at q < 0.01"))
    if scan.not_assessed:
        report.blocks.append(Findings("not_assessed", "Not assessed",
                                      [f"{s}: {why}" for s, why in scan.not_assessed.items()]))
    progress("computing metrics")
    stats = m.compute(store, since, until, ("overall", "severity"))
    report.blocks += metrics_report.tables(stats)
    report.blocks.append(automation(store, since, until))
    progress("drawing")
    in_window = [r for r in rows if r["start_epoch"] >= since]
    hm = heatmap.build(in_window, since, until, 24 if until - since > 2 * an.DAY else 1, zone)
    hm.services, hm.cells = hm.services[:top * 2], hm.cells[:top * 2]
    report.blocks.append(hm)
    days = heatmap.bucket_starts(since, until, 24, zone)
    bounds = [*days[1:], until]
    series: dict[str, list[float]] = {s: [0.0] * len(days) for s in ("CRITICAL", "MAJOR", "MODERATE")}
    for r in in_window:
        if r["severity"] in series:
            series[r["severity"]][bisect_right(bounds, r["start_epoch"])] += 1
    labels = [hm_label for hm_label in heatmap.build([], since, until, 24, zone).buckets]
    report.blocks.append(Chart("daily_severity", "Incidents per day by severity", "stacked", labels, series,
                               "incidents"))
    report.blocks.append(Chart("scores", "Risk score, top services", "bar", [s.service for s in scores[:-1][:top]],
                               {"score": [round(s.score, 1) for s in scores[:-1][:top]]}, "score (0–100)"))
    report.data = {"scores": [vars(s) for s in scores],
                   "trends": [{"kind": t.kind, "service": t.service, "p": t.p, "q": t.q, **t.numbers}
                              for t in findings],
                   "metrics": [s.as_dict() for s in stats], "not_assessed": scan.not_assessed}
    return report
