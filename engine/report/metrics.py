"""SRE metrics over a window: the contract's statistics, per group, against the brief's targets.

Every figure comes from one view of :mod:`engine.store.metrics_views` (the definition lives
there, once). This module only windows and summarises: an incident belongs to the window when
its first event's time is in ``[since, until)``; an end event after ``until`` counts as not
reached (censored at ``until``), so a report over a past window is what it would have said then.
"""

from __future__ import annotations

import json
import math
from bisect import bisect_left
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from engine.report import metrics_columns as mc
from engine.store.metrics_views import CLOCKS, LIFECYCLE, InsightsStore


@dataclass(frozen=True)
class Definition:
    id: str
    name: str
    start: str
    end: str
    population: str
    censoring: str
    unit: str  # "s" (a duration) or "%" (a rate)
    target: float | None  # met below this
    alert: float | None  # breached above this
    view: str


DEFINITIONS = (
    Definition("mttd", "MTTD", "first event's timestamp", "its decision committed (decisions.at)",
               "every incident", "none (a decision is committed with the event)", "s", 5, 10, "metric_mttd"),
    Definition("mtta", "MTTA", "first page sent (first ok result of a page action)",
               "first acknowledgement (incident_updates type ack, its occurred_at)", "paged incidents",
               "never acked: censored at the window end, or at the resolve if resolved unacked", "s", 180, 300,
               "metric_mtta"),
    Definition("mttr", "MTTR", "first page sent", "resolved (first human resolve or auto close)",
               "paged incidents", "unresolved: censored at the window end", "s", 900, 1800, "metric_mttr"),
    Definition("mttr_detect", "Detect→resolve", "first event's timestamp", "resolved", "incidents above NONE",
               "unresolved: censored at the window end", "s", None, None, "metric_mttr_detect"),
    Definition("false_positive", "False-positive rate", "decided event", "operator verdict (rules confirm, latest)",
               "decided events with a verdict; the rest counted as unconfirmed, never guessed",
               "unconfirmed events are not in the rate; coverage = confirmed / decided", "%", 2, 5,
               "metric_false_positive"),
    Definition("escalation", "Escalation rate", "first page sent",
               "a later step's page sent on its schedule (timeout)",
               "paged incidents; manual escalations (rules escalate) counted apart", "n/a", "%", 10, 20,
               "metric_escalation"),
)
BY_ID = {d.id: d for d in DEFINITIONS}
GROUPINGS = ("overall", "team", "service", "severity")
SEVERITIES = ("CRITICAL", "MAJOR", "MODERATE", "NONE")


@dataclass
class Stat:
    """One metric for one group."""

    metric: str
    by: str
    group: str
    n: int
    n_censored: int = 0
    median: float | None = None
    p90: float | None = None
    mean: float | None = None
    km_median: float | None = None
    rate: float | None = None
    status: str = "no data"
    extra: dict[str, Any] = field(default_factory=dict)
    ids: list[str] = field(default_factory=list)
    censored_ids: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        d = BY_ID[self.metric]
        return {"metric": self.metric, "by": self.by, "group": self.group, "n": self.n,
                "n_censored": self.n_censored, "median": self.median, "p90": self.p90, "mean": self.mean,
                "km_median": self.km_median, "rate": self.rate, "unit": d.unit, "target": d.target,
                "alert": d.alert, "status": self.status, **self.extra, "ids": self.ids,
                "censored_ids": self.censored_ids}


def quantile(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default), q in [0, 1]."""
    if not values:
        return None
    return _sorted_quantile(sorted(values), q)


def _sorted_quantile(s: Sequence[float], q: float) -> float:
    pos = (len(s) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def km_median(observed: Sequence[float], censored: Sequence[float]) -> float | None:
    """Kaplan–Meier median: the first time the product-limit survival falls to 0.5 or below.

    A censored time equal to an event time is still at risk at that time. None when survival
    never reaches 0.5 (more than half still waiting at the last event)."""
    events = Counter(observed)
    times = sorted([*observed, *censored])
    at_risk, survival = len(times), 1.0
    for t in sorted(events):
        at_risk = len(times) - bisect_left(times, t)  # everyone whose time is t or later
        survival *= 1 - events[t] / at_risk
        if survival <= 0.5 + 1e-12:
            return t
    return None


def judge(value: float | None, definition: Definition) -> str:
    if value is None:
        return "no data"
    if definition.target is None or definition.alert is None:
        return "—"
    if value < definition.target:
        return "met"
    return "breached" if value > definition.alert else "warning"


WORSE = {"no data": 0, "—": 0, "met": 1, "warning": 2, "breached": 3}


def duration_stat(definition: Definition, rows: Iterable[dict[str, Any]], until: float, by: str,
                  group: str) -> Stat:
    observed: list[tuple[float, str]] = []
    censored: list[tuple[float, str]] = []
    clamped = 0
    by_whom: dict[str, int] = {}
    for r in rows:
        start, end, stop = r["clock_start"], r["clock_end"], r["clock_stop"]
        if start is None or start >= until:
            continue
        if end is not None and end < until:
            if "resolved_by" in r:
                by_whom[r["resolved_by"]] = by_whom.get(r["resolved_by"], 0) + 1
            if end < start:
                clamped += 1  # e.g. an ack recorded before the page: clamped to 0 and counted
            observed.append((max(0.0, end - start), r["incident_id"]))
        else:
            limit = until if stop is None or stop >= until else stop
            censored.append((max(0.0, limit - start), r["incident_id"]))
    obs = sorted(t for t, _ in observed)
    stat = Stat(definition.id, by, group, len(observed) + len(censored), len(censored),
                _sorted_quantile(obs, 0.5) if obs else None, _sorted_quantile(obs, 0.9) if obs else None,
                math.fsum(obs) / len(obs) if obs else None,
                km_median(obs, [t for t, _ in censored]) if observed or censored else None,
                ids=sorted(i for _, i in observed), censored_ids=sorted(i for _, i in censored))
    if definition.target is not None:
        stat.extra["within_target"] = (bisect_left(obs, definition.target) / stat.n) if stat.n else None
    if clamped:
        stat.extra["clamped"] = clamped
    if by_whom:  # resolves: by a person (incident_updates) or automatically (a resolved event closed it)
        stat.extra["resolved_human"], stat.extra["resolved_auto"] = by_whom.get("human", 0), by_whom.get("auto", 0)
    stat.status = judge(stat.mean, definition)
    if censored:  # never-reached ends can only make it worse: the KM median is judged too
        km = stat.km_median if stat.km_median is not None else max(t for t, _ in censored)
        km_status = judge(km, definition)
        if stat.km_median is None and km_status != "breached":
            km_status = "no data" if not observed else stat.status
        stat.status = max(stat.status, km_status, key=WORSE.__getitem__)
    return stat


def escalation_stat(rows: Iterable[dict[str, Any]], until: float, by: str, group: str) -> Stat:
    d = BY_ID["escalation"]
    paged = [r for r in rows if r["page_epoch"] is not None and r["page_epoch"] < until]
    timeout = sorted(r["incident_id"] for r in paged if r["timeout_epoch"] is not None and r["timeout_epoch"] < until)
    manual = sorted(r["incident_id"] for r in paged if r["manual_epoch"] is not None and r["manual_epoch"] < until)
    rate = 100 * len(timeout) / len(paged) if paged else None
    return Stat(d.id, by, group, len(paged), rate=rate, status=judge(rate, d), ids=timeout,
                extra={"timeout": len(timeout), "manual": len(manual), "manual_ids": manual})


def false_positive_stat(rows: Iterable[dict[str, Any]], by: str, group: str) -> Stat:
    d = BY_ID["false_positive"]
    rows = list(rows)
    confirmed = [r for r in rows if r["false_positive"] is not None]
    fps = sorted(r["event_id"] for r in confirmed if r["false_positive"])
    rate = 100 * len(fps) / len(confirmed) if confirmed else None
    return Stat(d.id, by, group, len(rows), rate=rate, status=judge(rate, d), ids=fps,
                extra={"confirmed": len(confirmed), "unconfirmed": len(rows) - len(confirmed),
                       "coverage": 100 * len(confirmed) / len(rows) if rows else None})


def _groups(rows: list[dict[str, Any]], by: str) -> dict[str, list[dict[str, Any]]]:
    if by == "overall":
        return {"all": rows}
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        out[r[by] or "(none)"].append(r)
    if by == "severity":
        return {s: out[s] for s in SEVERITIES if s in out}
    return dict(sorted(out.items()))


def compute(store: InsightsStore, since: float, until: float, by: Sequence[str] = GROUPINGS,
            metrics: Sequence[str] = tuple(BY_ID)) -> list[Stat]:
    """Every metric for every group of every grouping asked for: the window's lifecycle read once, each
    figure computed column-wise (:mod:`engine.report.metrics_columns`, the same numbers as
    :func:`duration_stat` and :func:`escalation_stat` over the views' rows)."""
    needed = any(BY_ID[k].view in CLOCKS for k in metrics)
    columns = [c for c in LIFECYCLE if c not in ("service", "team") or c in by]  # the labels grouped by alone
    frame = mc.Frame.of(store.lifecycle(since, until, columns), columns) if needed else None
    out: list[Stat] = []
    for mid in metrics:
        d = BY_ID[mid]
        if frame is None or d.view not in CLOCKS:
            out += _false_positives(store, since, until, by)
            continue
        pop = frame.population(d.view)
        durations = mc.Durations.of(frame, d.view, until) if d.unit == "s" else None
        for grouping in by:
            for group, mask in frame.groups(grouping, pop):
                if durations is not None:
                    out.append(_duration(d, mc.duration_figures(durations, mask, until, frame.ids), grouping, group))
                else:
                    n, timeout, manual = mc.escalation_figures(frame, mask, until)
                    rate = 100 * len(timeout) / n if n else None
                    out.append(Stat(d.id, grouping, group, n, rate=rate, status=judge(rate, d), ids=timeout,
                                    extra={"timeout": len(timeout), "manual": len(manual), "manual_ids": manual}))
    return out


def _duration(definition: Definition, f: dict[str, Any], by: str, group: str) -> Stat:
    """A :class:`Stat` from :func:`metrics_columns.duration_figures`, judged as :func:`duration_stat` does."""
    stat = Stat(definition.id, by, group, f["n"], f["n_censored"], f["median"], f["p90"], f["mean"],
                f["km_median"] if f["n"] else None, ids=f["ids"], censored_ids=f["censored_ids"])
    if definition.target is not None:
        stat.extra["within_target"] = (mc.first_at_least(f["obs"], definition.target) / stat.n
                                       if stat.n else None)
    if f["clamped"]:
        stat.extra["clamped"] = f["clamped"]
    if f["by_whom"]:
        stat.extra["resolved_human"], stat.extra["resolved_auto"] = f["by_whom"]["human"], f["by_whom"]["auto"]
    stat.status = judge(stat.mean, definition)
    if f["n_censored"]:
        km = stat.km_median if stat.km_median is not None else f["max_censored"]
        km_status = judge(km, definition)
        if stat.km_median is None and km_status != "breached":
            km_status = "no data" if f["n"] == f["n_censored"] else stat.status
        stat.status = max(stat.status, km_status, key=WORSE.__getitem__)
    return stat


def _false_positives(store: InsightsStore, since: float, until: float, by: Sequence[str]) -> list[Stat]:
    """The false-positive rate per group, from counts made in SQL (one row per team, service and severity)."""
    d = BY_ID["false_positive"]
    counts = store.false_positive_counts(since, until)
    key = {"team": 0, "service": 1, "severity": 2}
    out = []
    for grouping in by:
        totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        ids: dict[str, list[str]] = defaultdict(list)
        for row in counts:
            name = "all" if grouping == "overall" else (row[key[grouping]] or "(none)")
            totals[name][0] += row[3]
            totals[name][1] += row[4]
            ids[name] += json.loads(row[5])
        names = ([s for s in SEVERITIES if s in totals] if grouping == "severity" else
                 ["all"] if grouping == "overall" else sorted(totals))
        for name in names:
            n, confirmed = totals[name]
            fp = sorted(ids[name])
            rate = 100 * len(fp) / confirmed if confirmed else None
            out.append(Stat(d.id, grouping, name, n, rate=rate, status=judge(rate, d), ids=fp,
                            extra={"confirmed": confirmed, "unconfirmed": n - confirmed,
                                   "coverage": 100 * confirmed / n if n else None}))
    return out


HOUR_CLASSES = ("business", "off", "sleep")


def hour_class(epoch: float, tz: ZoneInfo) -> str:
    """PagerDuty's interruption classes in the given zone: business Mon–Fri 08–18, sleep 22–08, else off."""
    t = datetime.fromtimestamp(epoch, tz)
    if t.hour >= 22 or t.hour < 8:
        return "sleep"
    return "business" if t.weekday() < 5 and t.hour < 18 else "off"


def interruptions(store: InsightsStore, since: float, until: float, tz: ZoneInfo) -> list[dict[str, Any]]:
    """Pages per person (one per incident, step and person, whatever the channels) by hour class."""
    weeks = max((until - since) / (7 * 86400), 1e-9)
    rows = [r for r in store.select("metric_interruptions", ("incident_id", "person", "sent_epoch"), since, until)
            if r[2] is not None and r[2] < until]
    incidents, persons, sent = (list(c) for c in zip(*rows, strict=True)) if rows else ([], [], [])
    names = list(dict.fromkeys(persons))
    index = {p: k for k, p in enumerate(names)}
    who = np.array([index[p] for p in persons], dtype=np.intp)
    slots = [int(t // 900) for t in sent]
    classes = {slot: _slot_class(slot, tz) for slot in set(slots)}  # None: the zone's offset moves inside it
    kind = [classes[slot] or hour_class(t, tz) for slot, t in zip(slots, sent, strict=True)]
    what = np.array([HOUR_CLASSES.index(k) for k in kind], dtype=np.intp)
    counts = np.bincount(who * 3 + what, minlength=3 * len(names)).reshape(-1, 3).tolist() if rows else []
    ids = np.empty(len(incidents), dtype=object)
    ids[:] = incidents
    out = []
    for k in sorted(range(len(names)), key=lambda k: (-sum(counts[k]), names[k])):
        total = sum(counts[k])
        out.append({"person": names[k], **dict(zip(HOUR_CLASSES, counts[k], strict=True)), "total": total,
                    "incidents": sorted(set(ids[who == k].tolist())), "per_week": round(total / weeks, 2)})
    return out


def _slot_class(slot: int, tz: ZoneInfo) -> str | None:
    """The hour class of every instant of a 15-minute UTC slot, when the zone's offset is the same whole number
    of quarter hours at both its ends (local hours then change only on slot boundaries); None otherwise."""
    a, b = datetime.fromtimestamp(slot * 900, tz), datetime.fromtimestamp(slot * 900 + 899.999, tz)
    offset = a.utcoffset()
    if offset is None or offset != b.utcoffset() or offset.total_seconds() % 900:
        return None
    return hour_class(slot * 900, tz)
