"""Daemon benchmark: drain rate of a full spool, and arrival→commit latency at a steady rate.

1. **Drain**: ``--files`` canonical events in ``incoming/``, one in-process ``Daemon.run_once()``
   (pinned to one CPU when possible); prints events/s for the whole cycle (decide + commit +
   move + outbox) and, with ``--profile``, where the time goes.
2. **Latency**: the real ``rules run`` as a subprocess; a producer thread writes ``--rate``
   events/s for ``--seconds`` by rename; latency is from each file's rename to its decision
   row's commit (``intake.at`` of the accepted event, stamped inside the transaction that commits
   its decision — or its suppression, since suppressed events have no decision row; ms precision).
   Prints p50/p99/max and the daemon's peak RSS (``VmHWM``).

Adapters run unconfigured (no credentials in the environment), so no network is involved.

Example: python benchmarks/daemon.py --files 5000 --seconds 5
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
ENV = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "PYTHONPATH", "VIRTUAL_ENV")}


def event(i: int) -> bytes:
    return json.dumps({"event_id": f"B{i:07d}", "timestamp": f"2025-01-01T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:"
                       f"{i % 60:02d}Z", "source": "prometheus", "service": f"svc-{i % 13}",
                       "environment": "production",
                       "title": f"bench {i}", "metrics": {"error_rate": (i % 10) / 10, "latency_p99_ms": i % 900}}
                      ).encode()


def drain(work: Path, files: int, profile: bool) -> None:
    for key in set(os.environ) - set(ENV):
        os.environ.pop(key)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    from engine.audit import Audit
    from engine.cli import load_compiled
    from engine.daemon import Daemon, DaemonConfig
    from engine.execute import Executor
    from engine.pipeline import Pipeline
    from engine.spool import Spool

    spool = Spool(work / "drain")
    spool.ensure()
    for i in range(files):
        (spool.incoming / f"{i:08d}.json").write_bytes(event(i))
    compiled = load_compiled(REPO / "rules", quiet_warnings=True)
    audit = Audit(work / "drain.db")
    daemon = Daemon(Pipeline(compiled, audit), Executor(audit, compiled.policy), spool, config=DaemonConfig())
    prof = cProfile.Profile() if profile else None
    started = time.perf_counter()
    if prof:
        prof.enable()
    stats = daemon.run_once()
    if prof:
        prof.disable()
    elapsed = time.perf_counter() - started
    actions = sum(stats.actions.values())
    print(f"drain: {stats.done} files, {stats.decided} decisions, {actions} actions executed in {elapsed:.1f} s "
          f"= {stats.done / elapsed:.0f} events/s on one core (peak RSS {_maxrss_mib():.0f} MiB, "
          f"includes {files} files created by this process)")
    samples = daemon.metrics.decision_latency.collect()[0].samples
    decided_s = next(x.value for x in samples if x.name.endswith("_sum"))
    print(f"       of which decide+commit {decided_s:.1f} s ({stats.done / max(decided_s, 1e-9):.0f} events/s), "
          f"the rest is parsing, moves and the outbox")
    if prof:
        pstats.Stats(prof).sort_stats("cumulative").print_stats(25)


def latency(work: Path, rate: float, seconds: float) -> None:
    spool, db, log = work / "latency", work / "latency.db", work / "latency.log"
    (spool / "incoming").mkdir(parents=True)
    cmd = [sys.executable, "-c", "from engine.cli import entry; entry()", "run", "--rules", str(REPO / "rules"),
           "--db", str(db), "--spool", str(spool), "--interval", "0.002", "--batch", "200"]
    proc = subprocess.Popen(cmd, cwd=REPO, env=ENV, stdout=subprocess.DEVNULL, stderr=open(log, "wb"))  # noqa: SIM115
    while '"event": "started"' not in log.read_text():
        time.sleep(0.05)
    for i in range(20):  # warm-up: the first decisions load lazily built state (model, templates)
        (spool / "incoming" / f"0-warmup-{i:03d}.json").write_bytes(event(9_000_000 + i))
    deadline = time.time() + 60
    while _count(db) < 20 and time.time() < deadline:
        time.sleep(0.05)
    renamed: dict[str, float] = {}
    total = int(rate * seconds)

    def produce() -> None:
        start = time.perf_counter()
        for i in range(total):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            tmp = spool / "incoming" / f".{i:08d}.tmp"
            tmp.write_bytes(event(i))
            os.rename(tmp, spool / "incoming" / f"{time.time_ns():020d}-{i:08d}.json")
            renamed[f"B{i:07d}"] = time.time()

    producer = threading.Thread(target=produce)
    producer.start()
    producer.join()
    deadline = time.time() + 120
    while _count(db) < total + 20 and time.time() < deadline:
        time.sleep(0.1)
    hwm = _vmhwm(proc.pid)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT event_id, at FROM intake WHERE outcome = 'accepted'").fetchall()
    lat = sorted((datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp() - renamed[eid]) * 1000
                 for eid, at in rows if eid in renamed)
    if not lat:
        print("latency: no decisions recorded")
        return
    pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]  # noqa: E731
    print(f"latency at {rate:.0f} events/s for {seconds:.0f} s: {len(lat)}/{total} committed; "
          f"arrival→commit p50 {pick(0.5):.1f} ms, p99 {pick(0.99):.1f} ms, max {lat[-1]:.1f} ms "
          f"(intake.at, ms precision); daemon peak RSS {hwm}")


def _count(db: Path) -> int:
    try:
        with sqlite3.connect(db) as conn:
            return int(conn.execute("SELECT count(*) FROM intake WHERE outcome = 'accepted'").fetchone()[0])
    except sqlite3.Error:
        return 0


def _vmhwm(pid: int) -> str:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM"):
                return f"{int(line.split()[1]) // 1024} MiB"
    except OSError:
        pass
    return "n/a"


def _maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=10_000, help="spool size for the drain (the issue quotes 50,000)")
    ap.add_argument("--rate", type=float, default=500.0, help="events/s for the latency run")
    ap.add_argument("--seconds", type=float, default=10.0, help="length of the latency run")
    ap.add_argument("--profile", action="store_true", help="cProfile the drain")
    ap.add_argument("--skip", choices=["drain", "latency"], help="run only the other part")
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} (shared with other work)")
    work = Path(tempfile.mkdtemp(prefix="daemon-bench-"))
    try:
        if args.skip != "latency":
            latency(work, args.rate, args.seconds)
        if args.skip != "drain":
            drain(work, args.files, args.profile)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
