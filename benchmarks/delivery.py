"""Delivery benchmark: N simultaneous outages, paged through vendor stand-ins on loopback.

N event files (one outage each, distinct services, ``service_unavailable``) wait in ``incoming/``; an
in-process daemon (the code ``rules run`` runs) decides them and sends the pages. PagerDuty and Slack
stand-ins answer after ``--latency`` seconds (default 0.3); in the ``hung`` phase Slack never answers
(every Slack send runs to its 10 s timeout). Phases, in this one run:

* ``concurrent``: the concurrent executor, both vendors answering;
* ``hung``: the concurrent executor, Slack hanging — the difference of PagerDuty's figures to
  ``concurrent`` is what the hung vendor costs the others;
* ``serial``: ``DaemonConfig(serial=True)`` (the one-at-a-time executor), on ``--serial-n`` outages
  (default 50: at 2 × 300 ms per outage it is slow by design);
* ``storm`` and ``storm-off``: a producer process writes ``--backlog`` (default 50,000) non-paging event files
  into ``incoming/`` of a running daemon as fast as it can, then one CRITICAL one; ``storm`` with the triage
  (engine/run/daemon/triage.py), ``storm-off`` without it (``DaemonConfig(triage=False)``: name order). Prints
  the files still waiting when the CRITICAL one arrived, arrival → its decision's commit and → its PagerDuty
  trigger, and the drain rate
  (files decided per second from the daemon's start until the spool is empty).

Prints, per phase: time from each decision's commit (``decisions.at``) to its PagerDuty trigger's
arrival at the stand-in, p50/p99/max, and pages (triggers) per second. The PagerDuty adapter's own
limiter (120 events/min per routing key) is lifted for the run: it would cap any phase at 2/s, and
the stand-in accepts everything.

Example: python benchmarks/delivery.py --outages 1000 --latency 0.3 --phases concurrent,hung,serial,storm,storm-off
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from standin import Standin  # noqa: E402

import actions.pagerduty as pagerduty  # noqa: E402
from actions.transport import RateLimiter  # noqa: E402
from engine.cli import load_compiled  # noqa: E402
from engine.run.daemon.loop import Daemon, DaemonConfig  # noqa: E402
from engine.run.daemon.outbox import Stats  # noqa: E402
from engine.run.daemon.spool import Spool  # noqa: E402
from engine.run.execute import Executor  # noqa: E402
from engine.run.pipeline import Pipeline  # noqa: E402
from engine.store.audit import Audit  # noqa: E402


def outage(i: int, run: str) -> bytes:
    return json.dumps({"event_id": f"{run}-{i:05d}", "timestamp": datetime.now(UTC).isoformat(), "source": "bench",
                       "service": f"svc-{run}-{i:05d}", "environment": "production", "title": f"down {i}",
                       "conditions": {"service_unavailable": True}}).encode()


def phase(name: str, n: int, latency: float, *, serial: bool, hang_slack: bool, deadline: float) -> dict[str, Any]:
    pd, slack = Standin(latency=latency), Standin(latency=latency)
    if hang_slack:
        slack.hang.clear()
    work = Path(tempfile.mkdtemp(prefix=f"delivery-{name}-"))
    env = {"PAGERDUTY_ROUTING_KEY": "R0UTINGKEY", "PAGERDUTY_EVENTS_URL": f"{pd.url}/v2/enqueue",
           "SLACK_WEBHOOK_URL": f"{slack.url}/hook/T000/B000/XXXXXXXXXXXXXXXXXXXX",
           "SLACK_BOT_TOKEN": "xoxb-bench", "SLACK_API_URL": f"{slack.url}/api"}
    compiled = load_compiled(REPO / "rules", quiet_warnings=True)
    audit = Audit(work / "audit.db")
    spool = Spool(work / "spool")
    spool.ensure()
    for i in range(n):
        spool.write(outage(i, name), f"{i:05d}.json")
    daemon = Daemon(Pipeline(compiled, audit), Executor(audit, compiled.policy, env=env), spool,
                    config=DaemonConfig(serial=serial))
    offset = time.time() - time.monotonic()
    started = time.monotonic()
    stats = Stats()
    try:
        while time.monotonic() - started < deadline:
            more = daemon.step(stats)
            if len([b for b in pd.bodies() if b.get("event_action") == "trigger"]) >= n:
                break
            if not more:
                daemon.wake.wait(0.005)
                daemon.wake.clear()
        elapsed = time.monotonic() - started
    finally:
        daemon.stop.set()
        if not serial:
            daemon.drain(0.0)
        slack.hang.set()
    decided = {incident: datetime.fromisoformat(at).timestamp() for incident, at in audit.conn.execute(
        "SELECT incident_id, min(at) FROM decisions WHERE incident_id IS NOT NULL GROUP BY incident_id")}
    arrivals: dict[str, float] = {}
    with pd.lock:
        for t, _, body in pd.received:
            if body.get("event_action") == "trigger":
                arrivals.setdefault(body["dedup_key"], t + offset)
    delays = sorted(arrivals[k] - decided[k] for k in arrivals if k in decided)
    first, last = (min(arrivals.values()), max(arrivals.values())) if arrivals else (0.0, 0.0)
    pd.close()
    slack.close()
    audit.close()
    return {"phase": name, "outages": n, "triggers": len(arrivals), "elapsed": elapsed,
            "p50": pct(delays, 0.50), "p99": pct(delays, 0.99), "max": delays[-1] if delays else float("nan"),
            "pages_per_s": len(arrivals) / max(1e-9, last - first) if len(arrivals) > 1 else float("nan")}


PRODUCER = """
import json, os, sys, time
from datetime import UTC, datetime
incoming, n, run = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def put(name, doc):
    tmp = os.path.join(incoming, "." + name + ".tmp")
    with open(tmp, "w") as fh:
        json.dump(doc, fh)
    os.rename(tmp, os.path.join(incoming, name))
now = datetime.now(UTC).isoformat()
for i in range(n):
    put(f"{time.time_ns()}-{i:06d}.json", {"event_id": f"{run}-noise-{i:06d}", "timestamp": now, "source": "bench",
        "service": f"noise-{i % 500:03d}", "environment": "production", "title": f"noise {i}",
        "metrics": {"error_rate": 0.0}})
waiting = sum(1 for e in os.scandir(incoming) if not e.name.startswith("."))
put(f"{time.time_ns()}-critical.json", {"event_id": f"{run}-critical", "timestamp": datetime.now(UTC).isoformat(),
    "source": "bench", "service": "checkout-critical", "environment": "production", "title": "checkout down",
    "conditions": {"service_unavailable": True}})
print(time.time(), waiting, flush=True)
"""


def storm(name: str, n: int, latency: float, *, triage: bool, deadline: float) -> dict[str, Any]:
    """A running daemon; a producer writes ``n`` noise files, then the CRITICAL one (see the module doc)."""
    pd = Standin(latency=latency)
    work = Path(tempfile.mkdtemp(prefix=f"delivery-{name}-"))
    env = {"PAGERDUTY_ROUTING_KEY": "R0UTINGKEY", "PAGERDUTY_EVENTS_URL": f"{pd.url}/v2/enqueue"}
    compiled = load_compiled(REPO / "rules", quiet_warnings=True)
    audit = Audit(work / "audit.db")
    spool = Spool(work / "spool")
    spool.ensure()
    daemon = Daemon(Pipeline(compiled, audit), Executor(audit, compiled.policy, env=env), spool,
                    config=DaemonConfig(triage=triage))
    offset = time.time() - time.monotonic()
    producer = subprocess.Popen([sys.executable, "-c", PRODUCER, str(spool.incoming), str(n), name],
                                stdout=subprocess.PIPE, text=True)
    started, cpu = time.monotonic(), time.process_time()
    stats = Stats()
    paged = drained = None
    try:
        while time.monotonic() - started < deadline and (paged is None or drained is None):
            more = daemon.step(stats)
            if paged is None and any(b.get("event_action") == "trigger" for b in pd.bodies()):
                paged = time.monotonic()
            if drained is None and stats.done >= n + 1:
                drained = time.monotonic()
            if not more:
                daemon.wake.wait(0.005)
                daemon.wake.clear()
    finally:
        daemon.stop.set()
        daemon.drain(0.0)
        out, _ = producer.communicate(timeout=60)
    arrived, waiting = out.split()
    with pd.lock:
        trigger = next((t + offset for t, _, b in pd.received if b.get("event_action") == "trigger"), float("nan"))
    promoted = daemon.metrics.promoted._value.get()
    row = audit.conn.execute("SELECT at FROM decisions WHERE event_id = ?", (f"{name}-critical",)).fetchone()
    decided = datetime.fromisoformat(row[0]).timestamp() if row else float("nan")
    pd.close()
    audit.close()
    end = drained or time.monotonic()
    return {"phase": name, "backlog": int(waiting), "paged_s": trigger - float(arrived), "done": stats.done,
            "decided_s": decided - float(arrived),
            "drain_per_s": stats.done / max(1e-9, end - started), "wall": end - started,
            "cpu": time.process_time() - cpu, "promoted": promoted}


def pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--outages", type=int, default=1000)
    ap.add_argument("--latency", type=float, default=0.3, help="seconds each stand-in takes to answer")
    ap.add_argument("--serial-n", type=int, default=50, help="outages for the serial phase")
    ap.add_argument("--backlog", type=int, default=50_000, help="noise files ahead of the CRITICAL one (storm)")
    ap.add_argument("--phases", default="concurrent,hung,serial,storm,storm-off",
                    help="comma-separated: concurrent, hung, serial, storm, storm-off")
    ap.add_argument("--deadline", type=float, default=300.0, help="seconds per phase at most")
    args = ap.parse_args()
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    unknown = set(phases) - {"concurrent", "hung", "serial", "storm", "storm-off"}
    if unknown:
        ap.error(f"unknown phase(s): {', '.join(sorted(unknown))}")
    pagerduty.ROUTING_KEY_LIMITER = RateLimiter(10**9, 60.0)  # the stand-in accepts everything (see above)
    os.environ.pop("PAGERDUTY_ROUTING_KEY", None)
    rows: dict[str, dict[str, Any]] = {}
    for p in phases:
        started, cpu = time.monotonic(), time.process_time()
        if p in ("storm", "storm-off"):
            rows[p] = storm(p, args.backlog, args.latency, triage=p == "storm", deadline=args.deadline)
        else:
            rows[p] = phase(p, args.serial_n if p == "serial" else args.outages, args.latency, serial=p == "serial",
                            hang_slack=p == "hung", deadline=args.deadline)
        rows[p]["wall_total"], rows[p]["cpu_total"] = time.monotonic() - started, time.process_time() - cpu
        print(f"# {p}: wall {rows[p]['wall_total']:.1f} s, cpu {rows[p]['cpu_total']:.1f} s, load average "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    paging = [r for r in rows.values() if "p50" in r]
    if paging:
        print(f"vendor latency {args.latency * 1000:.0f} ms; decision -> PagerDuty trigger (s)")
        print(f"{'phase':<11} {'outages':>7} {'triggers':>8} {'p50':>7} {'p99':>7} {'max':>7} {'pages/s':>8} "
              f"{'wall':>7}")
        for r in paging:
            print(f"{r['phase']:<11} {r['outages']:>7} {r['triggers']:>8} {r['p50']:>7.2f} {r['p99']:>7.2f} "
                  f"{r['max']:>7.2f} {r['pages_per_s']:>8.1f} {r['elapsed']:>7.1f}")
    if "concurrent" in rows and "hung" in rows:
        base, hung = rows["concurrent"], rows["hung"]
        print(f"hung Slack's delay on PagerDuty: p50 {1000 * (hung['p50'] - base['p50']):+.0f} ms, "
              f"p99 {1000 * (hung['p99'] - base['p99']):+.0f} ms, max {1000 * (hung['max'] - base['max']):+.0f} ms")
    storms = [r for r in rows.values() if "paged_s" in r]
    if storms:
        print("storm intake: CRITICAL file behind a backlog; arrival -> PagerDuty trigger (s)")
        print(f"{'phase':<10} {'waiting':>8} {'decided':>7} {'paged':>7} {'promoted':>8} {'drain/s':>8} {'wall':>7} "
              f"{'cpu':>7}")
        for r in storms:
            print(f"{r['phase']:<10} {r['backlog']:>8} {r['decided_s']:>7.2f} {r['paged_s']:>7.2f} "
                  f"{r['promoted']:>8.0f} {r['drain_per_s']:>8.0f} {r['wall']:>7.1f} {r['cpu']:>7.1f}")

if __name__ == "__main__":
    main()
