"""Detection rates and false alarms of ``rules anomalies trends`` on synthetic Poisson histories.

``python benchmarks/anomalies.py [--services 200] [--days 90] [--seed 1]``

200 services × 90 days, each with a baseline drawn log-uniformly from 0.05–5 incidents/day:
a quarter get a ×5 rate change (a surge), a quarter a ×3 change (a shift), a sixth a fingerprint
recurring daily at one hour, the rest no change. Changes start on a random day 45–80. The
detectors (engine.report.anomalies.scan, the same code the CLI runs) scan all services together
every day from day 30, as a daily job would, with Benjamini–Hochberg across the scan. Printed:

- ×5 surges found (a surge or shift finding for the service) within 2 days of the change;
- ×3 shifts found within 7 days; recurring hours found within 7 days (a recurrence finding);
- false alarms per 100 service-weeks on change-free services (and on the others before their
  change): an alarm is a run of consecutive scan days with a finding for the service (a daily job
  alerts once per run); the service-days with a finding are printed too.

Both detection rates are split by baseline: a ×5 change of 0.05/day adds 0.5 incidents in two
days, which no test can tell from chance; the table shows where the counts become enough. Beside
each band is its *limit*: the power of the most powerful test there is (Neyman–Pearson: the exact
one-sided Poisson test of the count over the whole detection window, with the baseline rate
known exactly, one look, at level q — more than any real detector has), averaged over the band's
services. Then the restated target: the detection rate among the services whose limit reaches
the goal (where some test could meet it).
"""

from __future__ import annotations

import argparse
import math
import random
import time
from collections import defaultdict
from zoneinfo import ZoneInfo

from scipy.stats import poisson as poisson_dist

from engine.report import anomalies as an

DAY = 86400.0
BANDS = ((0.05, 0.2), (0.2, 1.0), (1.0, 5.01))


def poisson(rng: random.Random, rate: float) -> int:
    count, acc = 0, rng.expovariate(1.0)
    while acc < rate:
        count += 1
        acc += rng.expovariate(1.0)
    return count


def history(n_services: int, days: int, rng: random.Random, t0: float) -> tuple[list[dict], dict[str, dict]]:
    rows: list[dict] = []
    plan: dict[str, dict] = {}
    for s in range(n_services):
        name = f"svc-{s:03d}"
        base = math.exp(rng.uniform(math.log(0.05), math.log(5)))
        kind = "surge" if s % 12 < 3 else "shift" if s % 12 < 6 else "recurring" if s % 12 < 8 else "none"
        change = rng.randrange(45, 81)
        plan[name] = {"kind": kind, "base": base, "day": change, "hour": rng.randrange(24)}
        for d in range(days):
            rate = base * (5 if kind == "surge" and d >= change else 3 if kind == "shift" and d >= change else 1)
            for _ in range(poisson(rng, rate)):
                rows.append({"service": name, "severity": rng.choice(("CRITICAL", "MAJOR", "MODERATE")),
                             "start_epoch": t0 + d * DAY + rng.uniform(0, DAY), "rule": "severity:r",
                             "fingerprint": f"fp-{rng.randrange(1000)}"})
            if kind == "recurring" and d >= change:
                rows.append({"service": name, "severity": "MAJOR", "rule": "severity:cron", "fingerprint": "cron",
                             "start_epoch": t0 + d * DAY + plan[name]["hour"] * 3600 + rng.uniform(0, 1800)})
    return rows, plan


def limit(base: float, factor: float, days: int, level: float) -> float:
    """The power of the exact Poisson test of a ``days``-day count, baseline ``base``/day known, at ``level``."""
    null, alt = base * days, base * days * factor
    c = int(poisson_dist.isf(level, null)) + 1  # the smallest count c with P(X >= c | null) <= level
    while c > 0 and poisson_dist.sf(c - 2, null) <= level:
        c -= 1
    while poisson_dist.sf(c - 1, null) > level:
        c += 1
    return float(poisson_dist.sf(c - 1, alt))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--services", type=int, default=200)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--q", type=float, default=an.Q_LEVEL, help="false-discovery level of a finding")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    t0 = 1_790_000_000.0
    rows, plan = history(args.services, args.days, rng, t0)
    found: dict[str, list[tuple[int, str]]] = defaultdict(list)  # service -> (scan day, kind) of findings
    started, tests = time.perf_counter(), 0
    for d in range(30, args.days + 1):
        scan = an.scan(rows, t0 + d * DAY, t0, ZoneInfo("UTC"), ("surge", "shift", "recurrence", "seasonal"), args.q)
        tests += len(scan.tests)
        for t in scan.findings:
            found[t.service].append((d, t.kind))
    secs = time.perf_counter() - started
    print(f"{args.services} services × {args.days} days, {len(rows):,} incidents, seed {args.seed}, q < {args.q:g}; "
          f"{args.days - 29} daily scans, {tests:,} tests in {secs:.1f} s "
          f"({secs / (args.days - 29) * 1000:.0f} ms a scan)")

    def detected(name: str, within: int, kinds: tuple[str, ...]) -> bool:
        day = plan[name]["day"]
        return any(day < d <= day + within and k in kinds for d, k in found[name])

    for kind, within, kinds, goal, factor in (("surge", 2, ("surge", "shift"), 0.9, 5),
                                              ("shift", 7, ("surge", "shift"), 0.7, 3),
                                              ("recurring", 7, ("recurrence",), None, 0)):
        members = [s for s, p in plan.items() if p["kind"] == kind]
        hits = [s for s in members if detected(s, within, kinds)]
        label = {"surge": "×5 surge", "shift": "×3 shift", "recurring": "recurring hour"}[kind]
        share = 100 * len(hits) / len(members)
        print(f"{label:<15} found within {within} d: {len(hits)}/{len(members)} = {share:.0f} %"
              + (f" (goal ≥ {goal:.0%})" if goal else ""))
        if not goal:
            continue
        power = {s: limit(plan[s]["base"], factor, within, args.q) for s in members}
        for lo, hi in BANDS:
            band = [s for s in members if lo <= plan[s]["base"] < hi]
            n_hit = sum(1 for s in band if s in hits)
            if band:
                print(f"    baseline {lo:g}–{min(hi, 5):g}/day: {n_hit}/{len(band)} = {100 * n_hit / len(band):.0f} %; "
                      f"limit {100 * sum(power[s] for s in band) / len(band):.0f} %")
        able = [s for s in members if power[s] >= goal]
        floor = min((plan[s]["base"] for s in able), default=float("nan"))
        n_hit = sum(1 for s in able if s in hits)
        print(f"    where the limit reaches {goal:.0%} (baseline ≥ {floor:.2f}/day): {n_hit}/{len(able)} = "
              f"{100 * n_hit / max(len(able), 1):.0f} % (restated goal ≥ {goal:.0%})")
    null_days = alarm_days = episodes = 0
    kinds: dict[str, int] = defaultdict(int)
    for name, p in plan.items():
        last = args.days if p["kind"] == "none" else p["day"]  # before its change a service is change-free too
        null_days += sum(1 for d in range(30, args.days + 1) if d <= last)
        days = sorted({d for d, _ in found[name] if d <= last})
        alarm_days += len(days)
        episodes += sum(1 for i, d in enumerate(days) if i == 0 or days[i - 1] != d - 1)
        for d, k in found[name]:
            kinds[k] += d <= last
    weeks = null_days / 7
    print(f"false alarms on {null_days:,} change-free service-days ({weeks:,.0f} service-weeks): {episodes} alarms "
          f"(a run of days with a finding counts once) = {episodes / weeks * 100:.2f} per 100 service-weeks "
          f"(goal ≤ 1); {alarm_days} service-days with a finding = {alarm_days / weeks * 100:.2f} per 100; "
          f"by detector: {dict(sorted(kinds.items()))}")


if __name__ == "__main__":
    main()
