"""The SRE metrics and risk scores on the daemon's ``/metrics``: the same views, computed on scrape.

A custom collector reads the audit log through :class:`~engine.store.metrics_views.InsightsStore`
(its own connection: scrapes run on HTTP threads) over the last ``window`` seconds, at most once
per ``ttl`` seconds (a scrape in between gets the cached figures). Series, all gauges:

``escalation_sre_duration_seconds{metric, severity, stat}``   stat: median, p90, mean, km_median
``escalation_sre_incidents{metric, severity, kind}``          kind: n, censored
``escalation_sre_rate_percent{metric, severity}``             false_positive, escalation
``escalation_sre_feedback_coverage_percent{severity}``        events with an operator verdict
``escalation_sre_escalations{severity, kind}``                kind: timeout, manual
``escalation_sre_status{metric, severity}``                   0 met, 1 warning, 2 breached, -1 no data
``escalation_sre_threshold{metric, kind}``                    the brief's target and alert (seconds or %)
``escalation_risk_score{service}``                            0–100 over the last 24 h (top 20 and overall)
``escalation_interruptions{hour_class}``                      pages to people in the window, UTC hours
``escalation_sre_up``                                         1 when the last computation succeeded
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from zoneinfo import ZoneInfo

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from engine.report import anomaly_score
from engine.report import metrics as m
from engine.store.metrics_views import InsightsStore

STATUS = {"met": 0, "warning": 1, "breached": 2}
log = logging.getLogger("escalation.insights")


class InsightsCollector(Collector):
    def __init__(self, db_path: str, window: float = 7 * 86400, ttl: float = 60.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.db_path, self.window, self.ttl, self.clock = db_path, window, ttl, clock
        self._lock = threading.Lock()
        self._cached: tuple[float, list[GaugeMetricFamily]] | None = None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = self.clock()
        with self._lock:
            if self._cached is None or now - self._cached[0] >= self.ttl:
                try:
                    self._cached = (now, self.families(now))
                except Exception as exc:  # a scrape must answer: the failure is a series and one log line
                    log.warning("warning: SRE metrics not computed: %s", exc)
                    up = GaugeMetricFamily("escalation_sre_up", "1 when the SRE metrics were computed")
                    up.add_metric([], 0)
                    self._cached = (now, [up])
            families = self._cached[1]
        yield from families

    def families(self, now: float) -> list[GaugeMetricFamily]:
        since = now - self.window
        with InsightsStore.open(self.db_path) as store:
            stats = m.compute(store, since, now, ("overall", "severity"))
            people = m.interruptions(store, since, now, ZoneInfo("UTC"))
            day = now - 86400
            scores = anomaly_score.scores(store.rows("insight_incidents", day - 90 * 86400, now), day, now,
                                          store.first_epoch() or day)
        g = _Families()
        for s in stats:
            sev = "all" if s.by == "overall" else s.group
            d = m.BY_ID[s.metric]
            if d.unit == "s":
                for stat in ("median", "p90", "mean", "km_median"):
                    g.add("escalation_sre_duration_seconds", "SRE durations by metric contract (seconds)",
                          {"metric": s.metric, "severity": sev, "stat": stat}, getattr(s, stat))
                g.add("escalation_sre_incidents", "Incidents in each duration's population",
                      {"metric": s.metric, "severity": sev, "kind": "n"}, s.n)
                g.add("escalation_sre_incidents", "", {"metric": s.metric, "severity": sev, "kind": "censored"},
                      s.n_censored)
            else:
                g.add("escalation_sre_rate_percent", "False-positive and escalation rates (%)",
                      {"metric": s.metric, "severity": sev}, s.rate)
                if s.metric == "false_positive":
                    g.add("escalation_sre_feedback_coverage_percent", "Decided events with an operator verdict (%)",
                          {"severity": sev}, s.extra["coverage"])
                else:
                    for kind in ("timeout", "manual"):
                        g.add("escalation_sre_escalations", "Escalated incidents by kind",
                              {"severity": sev, "kind": kind}, s.extra[kind])
            g.add("escalation_sre_status", "0 met, 1 warning, 2 breached, -1 no data",
                  {"metric": s.metric, "severity": sev}, STATUS.get(s.status, -1))
        for d in m.DEFINITIONS:
            for kind in ("target", "alert"):
                g.add("escalation_sre_threshold", "The brief's target and alert threshold (seconds or %)",
                      {"metric": d.id, "kind": kind}, getattr(d, kind))
        for sc in [*scores[:-1][:20], scores[-1]]:
            g.add("escalation_risk_score", "Risk score 0-100 over the last 24 h (brief's formula, cap 10)",
                  {"service": sc.service}, sc.score)
        for cls in ("business", "off", "sleep"):
            g.add("escalation_interruptions", "Pages to people in the window by hour class (UTC)",
                  {"hour_class": cls}, sum(p[cls] for p in people))
        g.add("escalation_sre_up", "1 when the SRE metrics were computed", {}, 1)
        return g.families()


class _Families:
    def __init__(self) -> None:
        self._by: dict[str, GaugeMetricFamily] = {}

    def add(self, name: str, doc: str, labels: dict[str, str], value: Any) -> None:
        if value is None:
            return
        fam = self._by.get(name)
        if fam is None:
            fam = self._by[name] = GaugeMetricFamily(name, doc or name, labels=list(labels))
        fam.add_metric(list(labels.values()), float(value))

    def families(self) -> list[GaugeMetricFamily]:
        return list(self._by.values())
