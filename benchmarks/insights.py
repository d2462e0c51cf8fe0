"""Benchmark ``rules metrics`` and ``rules anomalies summary`` over a large audit log.

``python benchmarks/insights.py [--incidents 1000000] [--services 200] [--days 365] [--db FILE] [--whole]``
writes a synthetic audit log (the rows the engine writes per incident: event, decision, severity
firing, two page actions with results, an ack and a resolve for most, a remediation for some),
then times both commands as real subprocesses over the last 7 days (best of 3; ``--whole``: also
the last 30 days and the whole history, once each), with the CPU seconds of the run (a busy
machine inflates the wall clock). An existing ``--db`` of the right size is reused. The first
command after the sidecar cache (``<db>.insights``, engine/store/insights_cache.py) is removed
builds it: timed apart; then one day of new incidents is appended and the refresh that picks them
up is timed too.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from engine.report.insights_window import duration
from engine.store.audit import Audit

REPO = Path(__file__).resolve().parents[1]
SEVERITIES = ("CRITICAL", "MAJOR", "MODERATE", "NONE")


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def build(path: Path, incidents: int, services: int, days: int, until: float, seed: int = 1,
          first: int = 0, start: float | None = None) -> None:
    rng = random.Random(seed)
    Audit(path).close()  # every table, index and view (its migrations)
    conn = sqlite3.connect(path, isolation_level=None)
    if first:  # appending: the ids go on from the rows already there
        action_id = conn.execute("SELECT max(id) FROM actions").fetchone()[0] or 0
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    h = "ab" * 32
    action_id = action_id if first else 0
    batch: dict[str, list[tuple]] = {k: [] for k in ("events", "decisions", "firings", "actions", "results",
                                                     "updates")}
    sql = {
        "events": "INSERT INTO events (event_id, at, timestamp, service, status, payload, rules_hash) "
                  "VALUES (?, ?, ?, ?, 'firing', ?, ?)",
        "decisions": "INSERT INTO decisions (event_id, incident_id, service, severity, owner, at, rules_hash, "
                     "event_epoch) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        "firings": "INSERT INTO firings (event_id, seq, rule, stage, selected, at, rules_hash) "
                   "VALUES (?, 1, ?, 'severity', 1, ?, ?)",
        "actions": "INSERT INTO actions (id, idempotency_key, event_id, incident_id, action, kind, step, due_at, "
                   "intent, at, rules_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        "results": "INSERT INTO results (action_id, outcome, detail, at, rules_hash) VALUES (?, ?, '', ?, ?)",
        "updates": "INSERT INTO incident_updates (event_id, incident_id, type, by, source, occurred_at, at, "
                   "rules_hash) VALUES (?, ?, ?, 'alice@x', 'bench', ?, ?, ?)",
    }
    start = until - days * 86400 if start is None else start
    step = (until - start) / incidents
    conn.execute("BEGIN")
    for k in range(first, first + incidents):
        t0 = start + (k - first) * step + rng.uniform(0, step)
        service = f"svc-{rng.randrange(services):03d}"
        sev = rng.choices(SEVERITIES, (1, 3, 6, 4))[0]
        eid = f"E{k:08d}"
        decided = t0 + rng.uniform(0.05, 8)
        owner = json.dumps({"team": f"team-{int(service[4:]) % 12}"})
        batch["events"].append((eid, iso(decided), iso(t0), service, json.dumps({"fingerprint": f"fp{k % 97}"}), h))
        batch["decisions"].append((eid, eid, service, sev, owner, iso(decided), h, t0))
        batch["firings"].append((eid, f"severity:rule-{k % 13}", iso(decided), h))
        if sev != "NONE":
            page = decided + rng.uniform(0.1, 2)
            targets = json.dumps({"targets": [f"p{rng.randrange(40)}@x", "S0CHAN"]})
            for step_no, when in ((0, page), (1, page + 300)):
                acked = rng.random() < 0.8
                if step_no == 1 and acked:
                    break
                action_id += 1
                batch["actions"].append((action_id, f"k{action_id}", eid, eid, "pagerduty", "page", step_no,
                                         iso(decided), targets, iso(decided), h))
                batch["results"].append((action_id, "ok", iso(when), h))
            if rng.random() < 0.85:
                ack = page + rng.expovariate(1 / 150)
                batch["updates"].append((f"a{k}", eid, "ack", iso(ack), iso(ack), h))
                res = ack + rng.expovariate(1 / 700)
                batch["updates"].append((f"r{k}", eid, "resolve", iso(res), iso(res), h))
            if sev == "CRITICAL":
                action_id += 1
                batch["actions"].append((action_id, f"k{action_id}", eid, eid, "restart", "remediate", 0,
                                         iso(decided), "{}", iso(decided), h))
                batch["results"].append((action_id, "ok", iso(decided + 3), h))
        if k % 50_000 == 49_999 or k == first + incidents - 1:
            for name, rows in batch.items():
                conn.executemany(sql[name], rows)
                rows.clear()
            conn.execute("COMMIT")
            conn.execute("BEGIN")
            print(f"  wrote {k + 1 - first:,} incidents", file=sys.stderr, flush=True)
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()


def timed(args: list[str], runs: int = 3) -> tuple[float, float]:
    """Best wall-clock seconds and the CPU seconds (user + system) of that run."""
    best = (float("inf"), 0.0)
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        res = subprocess.run([sys.executable, "-m", "engine.cli", *args], capture_output=True, text=True, cwd=REPO)
        wall = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if res.returncode != 0:
            raise SystemExit(f"rules {' '.join(args)} failed: {res.stderr.strip()}")
        cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
        best = min(best, (wall, cpu))
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--incidents", type=int, default=1_000_000)
    ap.add_argument("--services", type=int, default=200)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--db", type=Path, default=Path("/tmp/insights-bench.db"))
    ap.add_argument("--whole", action="store_true", help="also time the last 30 days and the whole history")
    ap.add_argument("--append", action="store_true", help="then append a day of incidents and time the refresh")
    args = ap.parse_args()
    until = datetime(2026, 12, 1, tzinfo=UTC).timestamp()
    have = 0
    if args.db.exists():
        with sqlite3.connect(args.db) as c:
            have = c.execute("SELECT count(*) FROM decisions").fetchone()[0]
    if have != args.incidents:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{args.db}{suffix}").unlink(missing_ok=True)
        t = time.perf_counter()
        build(args.db, args.incidents, args.services, args.days, until)
        print(f"built {args.incidents:,} incidents in {time.perf_counter() - t:.0f} s "
              f"({args.db.stat().st_size / 1e6:.0f} MB)")
    end = "2026-12-01T00:00:00+00:00"
    start, _ = timed(["--help"])
    print(f"{args.incidents:,} incidents, {args.services} services, {args.days} days; "
          f"python + CLI start alone: {start:.2f} s; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    cache = Path(f"{args.db}.insights")
    cache.unlink(missing_ok=True)
    metrics = ["metrics", "--format", "json", "--db", str(args.db), "--until", end, "--window", "7d"]
    wall, cpu = timed(metrics, 1)
    print(f"  first read, builds the cache ({cache.stat().st_size / 1e6:.0f} MB): {wall:6.2f} s wall, {cpu:6.2f} s CPU")
    windows = [("last 7 days", ["--window", "7d"], 3)]
    if args.whole:
        windows += [("last 30 days", ["--window", "30d"], 1), ("whole history", ["--since", f"{args.days}d"], 1)]
    for label, window, runs in windows:
        n = round(args.incidents * duration(window[1]) / (args.days * 86400))
        for name, cmd in (("rules metrics", ["metrics", "--format", "json"]),
                          ("rules anomalies summary", ["anomalies", "summary"])):
            wall, cpu = timed([*cmd, "--db", str(args.db), "--until", end, *window], runs)
            print(f"  {name:<26} {label:<14} (~{n:,} incidents) {wall:6.2f} s wall, {cpu:6.2f} s CPU")
    if args.append:
        day = round(args.incidents / args.days)
        until = datetime(2026, 12, 1, tzinfo=UTC).timestamp()
        build(args.db, day, args.services, 1, until + 86400, seed=2, first=args.incidents, start=until)
        wall, cpu = timed([*metrics[:-4], "--until", "2026-12-02T00:00:00+00:00", "--window", "7d"], 1)
        print(f"  after appending one day ({day:,} incidents): rules metrics (refresh + report) {wall:6.2f} s wall, "
              f"{cpu:6.2f} s CPU (the log now differs from --incidents: the next run rebuilds it)")


if __name__ == "__main__":
    main()
