"""``rules metrics`` as a :class:`~engine.report.insights_model.Report`: durations, rates, interruptions."""

from __future__ import annotations

from collections.abc import Sequence
from zoneinfo import ZoneInfo

from engine.report import metrics as m
from engine.report.insights_model import Header, Report, Table, fmt_duration, fmt_pct, gc_paused
from engine.store.metrics_views import InsightsStore


def definitions() -> list[tuple[str, str]]:
    out = []
    for d in m.DEFINITIONS:
        goal = ("" if d.target is None else
                f" Target < {_limit(d.target, d.unit)}, breached > {_limit(d.alert, d.unit)}, warning between.")
        out.append((d.name, f"{d.start} → {d.end}; population: {d.population}; not reached: {d.censoring}; "
                            f"view {d.view}.{goal}"))
    out += [
        ("Statistics", "median and p90 of the observed durations (linear interpolation), mean of the observed; "
                       "KM median: Kaplan–Meier median counting censored incidents (— when more than half are "
                       "still waiting). A duration's status is the worse of its mean and, with censored "
                       "incidents, its KM median."),
        ("Window", "an incident belongs to the window when its first event's time is in it; an end event after "
                   "the window end counts as not reached."),
        ("Interruptions", "one per incident, step and person paged (any channels), by the page's local time: "
                          "business Mon–Fri 08–18, sleep 22–08, off otherwise (PagerDuty's classes)."),
    ]
    return out


def _limit(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    return f"{value:g} %" if unit == "%" else fmt_duration(value)


@gc_paused
def build(store: InsightsStore, since: float, until: float, tz: str, by: Sequence[str] = m.GROUPINGS,
          title: str = "SRE metrics") -> Report:
    stats = m.compute(store, since, until, by)
    header = Header(title, since, until, tz, store.rules_hashes(since, until), store.checkpoint())
    report = Report(header, definitions=definitions())
    report.blocks += tables(stats)
    people = m.interruptions(store, since, until, ZoneInfo(tz))
    report.blocks.append(Table("interruptions", f"Interruptions per person ({tz})",
                               ["person", "business", "off", "sleep", "total", "per week", "incidents"],
                               [[p["person"], p["business"], p["off"], p["sleep"], p["total"], p["per_week"],
                                 len(p["incidents"])] for p in people]))
    report.data = {"metrics": [s.as_dict() for s in stats], "interruptions": people}
    return report


def tables(stats: list[m.Stat]) -> list[Table]:
    durations, rates = [], []
    for s in stats:
        d = m.BY_ID[s.metric]
        group = s.group if s.by == "overall" else f"{s.by}={s.group}"
        if d.unit == "s":
            within = s.extra.get("within_target")
            note = "" if within is None else f"{within * 100:.0f} % within target"
            if "resolved_auto" in s.extra:
                note += f"; resolved by people {s.extra['resolved_human']}, auto {s.extra['resolved_auto']}"
            if s.extra.get("clamped"):
                note += f"; {s.extra['clamped']} clamped to 0 (end before start)"
            durations.append([d.name, group, s.n, s.n_censored, fmt_duration(s.median), fmt_duration(s.p90),
                              fmt_duration(s.mean), fmt_duration(s.km_median), _limit(d.target, "s"),
                              _limit(d.alert, "s"), s.status, note])
        else:
            if s.metric == "false_positive":
                cov = s.extra["coverage"]
                detail = (f"{len(s.ids)} of {s.extra['confirmed']} confirmed; coverage {fmt_pct(cov)}, "
                          f"{s.extra['unconfirmed']} unconfirmed")
            else:
                detail = f"timeout {s.extra['timeout']}, manual {s.extra['manual']}"
            rates.append([d.name, group, s.n, fmt_pct(s.rate), _limit(d.target, "%"), _limit(d.alert, "%"),
                          s.status, detail])
    return [Table("durations", "Durations", ["metric", "group", "n", "censored", "median", "p90", "mean",
                                             "KM median", "target", "alert", "status", "note"], durations),
            Table("rates", "Rates", ["metric", "group", "n", "value", "target", "alert", "status", "detail"], rates)]
