"""Real-stack benchmark: Prometheus → Alertmanager → ``rules run --listen`` (tests/stack/stack_kit.py).

1. **Latency**: ``--alerts`` alerts fired one after another (``--rate`` per second), each its own
   Alertmanager group (``group_by: [shard]``, ``group_wait`` 100 ms); per alert, from Prometheus'
   firing time (the alert's ``startsAt``, stamped at the rule evaluation) to the daemon's committed
   decision (``decisions.at``), and the daemon's own share: from the body's arrival (the spool file's
   name is its arrival time in ns) to the same commit. Prometheus evaluates every second, so the
   total includes up to one evaluation's wait for the alert to be sent.
2. **Storm**: ``--storm`` alerts in ONE group (one service), sent by Alertmanager as one body; alerts
   lost (Prometheus' firing alerts that have no decision: must be 0), firing → decision p50/p99, the
   daemon's arrival → commit, and the audit log's bytes per event (the database with its WAL, after
   the resolves too) — linear growth means this stays flat as the storm grows.

Stand-in vendors (PagerDuty, Slack) on 127.0.0.1 answer at once; teams/email stay unconfigured.

Example: python benchmarks/alertmanager_stack.py --alerts 200 --rate 20 --storm 10000
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "stack"))  # the stack kit, shared
from stack_kit import Stack, StackConfig, wait_for  # noqa: E402


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _latencies(stack: Stack, service: str, status: str = "firing") -> tuple[list[float], list[float]]:
    """(firing → decision, arrival → decision) in ms, one per decided event of ``service``."""
    rows = stack.query("SELECT e.timestamp, d.at, i.file FROM decisions d JOIN events e ON e.event_id = "
                       "d.event_id JOIN intake i ON i.event_id = d.event_id AND i.outcome = 'accepted' "
                       "WHERE d.service = ? AND e.status = ?", (service, status))
    total, own = [], []
    for stamp, at, file in rows:
        committed = _epoch(at)
        total.append(1000 * (committed - _epoch(stamp)))
        arrived = int(file.split("-", 1)[0]) / 1e9 if file.split("-", 1)[0].isdigit() else None
        if arrived is not None:
            own.append(1000 * (committed - arrived))
    return total, own


def _line(name: str, values: list[float]) -> str:
    return f"{name}: p50 {_pct(values, 0.5):.1f} ms, p99 {_pct(values, 0.99):.1f} ms, max {max(values):.1f} ms " \
           f"(n={len(values)})"


def latency(root: Path, alerts: int, rate: float) -> None:
    stack = Stack(root, StackConfig(group_by=("shard",), group_wait="100ms", group_interval="1s"))
    try:
        wait_for(lambda: stack.scraped("checkout-api"), 60, what="the first scrape of the target")
        for n in range(alerts):
            stack.storm.series[f'checkout_shard_errors{{shard="{n:05d}"}}'] = 1.0
            time.sleep(1 / rate)
        wait_for(lambda: stack.count("SELECT count(*) FROM decisions WHERE service = 'checkout-api'") >= alerts,
                 120, what="every alert decided")
        total, own = _latencies(stack, "checkout-api")
        print(_line("latency, Prometheus firing → decision", total))
        print(_line("latency, the daemon's share (body arrival → commit)", own))
        print(f"the daemon's share of the median: {_pct(own, 0.5) / _pct(total, 0.5):.1%}")
    finally:
        stack.stop()


def storm(root: Path, size: int) -> None:
    stack = Stack(root, StackConfig())
    try:
        wait_for(lambda: stack.scraped("checkout-api"), 60, what="the first scrape of the target")
        started = time.monotonic()
        stack.storm.series = {f'checkout_shard_errors{{shard="{n:05d}"}}': 1.0 for n in range(size)}
        firing = "SELECT count(DISTINCT json_extract(payload, '$.fingerprint')) FROM events WHERE service = " \
                 "'checkout-api' AND status = 'firing'"
        prometheus = wait_for(lambda: len([a for a in stack.prometheus_alerts() if a["state"] == "firing" and
                                           a["labels"].get("service") == "checkout-api"]) >= size and size,
                              180, what="Prometheus to fire the storm")
        wait_for(lambda: stack.count(firing) >= prometheus, 300, what="the storm decided")
        decided = stack.count(firing)
        elapsed = time.monotonic() - started
        total, own = _latencies(stack, "checkout-api")
        bodies = stack.query("SELECT count(DISTINCT i.file), max(n) FROM (SELECT file, count(*) n FROM intake "
                             "WHERE outcome = 'accepted' GROUP BY file) i")
        print(f"storm: {size} alerts fired in one group, {decided} decided, lost {prometheus - decided} "
              f"({elapsed:.1f} s from the first scrape; {bodies[0][0]} bodies, the largest {bodies[0][1]} alerts)")
        print(_line("storm, Prometheus firing → decision", total))
        print(_line("storm, the daemon's share (body arrival → commit)", own))
        span = stack.query("SELECT min(CAST(substr(i.file, 1, 20) AS INTEGER)), max(d.at) FROM intake i JOIN "
                           "decisions d ON d.event_id = i.event_id WHERE d.service = 'checkout-api'")[0]
        busy = _epoch(span[1]) - span[0] / 1e9
        print(f"storm, the daemon decided {decided} alerts in {busy:.1f} s from the first body's arrival "
              f"({decided / busy:.0f} alerts/s, bodies decided one after another)")
        stack.storm.series = {k: 0.0 for k in stack.storm.series}
        resolved = "SELECT count(*) FROM events WHERE service = 'checkout-api' AND status = 'resolved'"
        wait_for(lambda: stack.count(resolved) >= decided, 300, what="the resolves decided")
        events = stack.count("SELECT count(*) FROM events")
        size_bytes = sum(os.path.getsize(p) for p in stack.root.glob("audit.db*") if p.suffix != ".lock")
        incident_bytes = stack.count("SELECT sum(length(state)) FROM incidents")
        print(f"audit log: {size_bytes / 1e6:.1f} MB for {events} events = {size_bytes / events:.0f} bytes per "
              f"event ({incident_bytes / events:.0f} of them incident state)")
        failed = stack.count("SELECT count(*) FROM intake WHERE outcome IN ('failed', 'quarantined', 'refused')")
        print(f"intake rows failed/quarantined/refused: {failed}")
    finally:
        stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=200, help="alerts for the latency phase (0: skip)")
    parser.add_argument("--rate", type=float, default=20.0, help="alerts fired per second in the latency phase")
    parser.add_argument("--storm", type=int, default=10_000, help="alerts in the storm's one group (0: skip)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="am-stack-") as tmp:
        if args.alerts:
            latency(Path(tmp) / "latency", args.alerts, args.rate)
        if args.storm:
            storm(Path(tmp) / "storm", args.storm)


if __name__ == "__main__":
    main()
