"""Daemon benchmark: drain rate of a full spool, and arrival→commit latency at a steady rate.

1. **Drain**: ``--files`` canonical events in ``incoming/``, one in-process ``Daemon.run_once()``
   (the code ``rules run --once`` runs; pinned to one CPU when possible); prints events/s for the
   whole cycle (claim, read, parse, decide + commit, move, outbox) and splits the time: inside
   ``Pipeline.process_batch``, executing outbox actions (``Executor.run_one``), and the rest — the
   daemon's own overhead per file. With ``--profile``, where the time goes.
2. **Latency**: the real ``rules run`` as a subprocess with its default settings; a producer
   thread writes each ``--rate`` (events/s) for ``--seconds`` by the producer protocol (temporary
   name, rename into ``incoming/``); latency is from each file's rename to its commit (``intake.at``
   of the accepted event, stamped inside the transaction that commits its decision — or its
   suppression, since suppressed events have no decision row; ms precision, truncated). Prints
   p50/p99/max and the daemon's peak RSS (``VmHWM``).

Adapters run unconfigured (no credentials in the environment), so no network is involved.

Example: python benchmarks/daemon.py --files 50000 --rate 250,500,1000 --seconds 10
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import json
import math
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
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
ENV = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "PYTHONPATH", "VIRTUAL_ENV")}


def event(i: int, prefix: str = "B", day: str = "2025-01-01") -> bytes:
    """Event ``i``: one second of event time after event ``i - 1``, 13 services in turn."""
    return json.dumps({"event_id": f"{prefix}{i:07d}", "timestamp": f"{day}T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:"
                       f"{i % 60:02d}Z", "source": "prometheus", "service": f"svc-{i % 13}",
                       "environment": "production",
                       "title": f"bench {i}", "metrics": {"error_rate": (i % 10) / 10, "latency_p99_ms": i % 900}}
                      ).encode()


def drain(work: Path, files: int, profile: bool) -> None:
    for key in set(os.environ) - set(ENV):
        os.environ.pop(key)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    from engine.cli import load_compiled
    from engine.run.daemon.loop import Daemon, DaemonConfig
    from engine.run.daemon.spool import Spool
    from engine.run.execute import Executor
    from engine.run.pipeline import Pipeline
    from engine.store.audit import Audit

    spool = Spool(work / "drain")
    spool.ensure()
    for i in range(files):
        (spool.incoming / f"{i:08d}.json").write_bytes(event(i))
    compiled = load_compiled(REPO / "rules", quiet_warnings=True)
    audit = Audit(work / "drain.db")
    daemon = Daemon(Pipeline(compiled, audit), Executor(audit, compiled.policy), spool, config=DaemonConfig())
    inside = {"pipeline": 0.0, "outbox": 0.0, "pipeline cpu": 0.0, "outbox cpu": 0.0}
    daemon.pipeline.process_batch = _timed(daemon.pipeline.process_batch, inside, "pipeline")  # type: ignore
    daemon.executor.run_one = _timed(daemon.executor.run_one, inside, "outbox")  # type: ignore
    prof = cProfile.Profile() if profile else None
    daemon.freeze_heap()  # as `rules run` does before its loop
    started, cpu = time.perf_counter(), time.thread_time()
    if prof:
        prof.enable()
    stats = daemon.run_once()
    if prof:
        prof.disable()
    elapsed, cpu = time.perf_counter() - started, time.thread_time() - cpu
    actions = sum(stats.actions.values())
    print(f"drain: {stats.done} files, {stats.decided} decisions, {actions} actions executed in {elapsed:.1f} s "
          f"= {stats.done / elapsed:.0f} events/s on one core (CPU time {cpu:.1f} s: {stats.done / cpu:.0f}/s per "
          f"CPU-second, about what an unshared core would reach; peak RSS {_maxrss_mib():.0f} MiB, includes "
          f"{files} files created by this process)")
    us = {k: v / max(stats.done, 1) * 1e6 for k, v in inside.items()}
    for clock, total, suffix in (("wall-clock", elapsed, ""), ("CPU time", cpu, " cpu")):
        rest = total / max(stats.done, 1) * 1e6 - us["pipeline" + suffix] - us["outbox" + suffix]
        print(f"       per file, {clock}: Pipeline.process_batch {us['pipeline' + suffix]:.0f} µs, outbox actions "
              f"{us['outbox' + suffix]:.0f} µs, the daemon's own work {rest:.0f} µs (list, claim, read, parse, "
              f"sort, move, metrics); outside the pipeline {rest + us['outbox' + suffix]:.0f} µs")
    if prof:
        pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
        pstats.Stats(prof).sort_stats("tottime").print_stats(r"daemon\.py|spool\.py|posix|intake", 25)


def _timed(fn: Callable[..., Any], into: dict[str, float], key: str) -> Callable[..., Any]:
    """``fn``, adding its wall-clock and CPU time (this thread's, syscalls included) to ``into``."""
    def timed(*args: Any, **kwargs: Any) -> Any:
        started, cpu = time.perf_counter(), time.thread_time()
        try:
            return fn(*args, **kwargs)
        finally:
            into[key] += time.perf_counter() - started
            into[key + " cpu"] += time.thread_time() - cpu
    return timed


# `rules run` with Pipeline.process_batch replaced by a stand-in that spends a fixed CPU time per event and
# records only its intake row (same transaction per group): what the daemon alone does at a given pipeline cost.
STAND_IN = """
import sys, time
from engine.run.pipeline import FileResult, Pipeline
cost = float(sys.argv.pop(1)) / 1e6
def process_batch(self, files):
    self.audit.begin()
    try:
        for name, _, items in files:
            for item in items:
                end = time.thread_time() + cost
                while time.thread_time() < end:
                    pass
                self.audit.record_intake(name, "accepted", event_id=item.event_id, rules_hash=self.rules_hash)
        self.audit.commit()
    except BaseException:
        self.audit.rollback()
        raise
    return [FileResult(name, True) for name, _, _ in files]
Pipeline.process_batch = process_batch
from engine.cli import entry
entry()
"""


def latency(work: Path, rate: float, seconds: float, daemon_args: list[str], pipeline_us: float | None) -> None:
    spool, db, log = work / "spool", work / "latency.db", work / "latency.log"
    incoming = spool / "incoming"
    incoming.mkdir(parents=True)
    launch = ["-c", "from engine.cli import entry; entry()"] if pipeline_us is None else \
        ["-c", STAND_IN, str(pipeline_us)]
    cmd = [sys.executable, *launch, "run", "--rules", str(REPO / "rules"), "--db", str(db), "--spool", str(spool),
           *daemon_args]
    proc = subprocess.Popen(cmd, cwd=REPO, env=ENV, stdout=subprocess.DEVNULL, stderr=open(log, "wb"))  # noqa: SIM115
    while '"event": "started"' not in log.read_text():
        time.sleep(0.05)
    for i in range(20):  # warm-up: the first decisions load lazily built state (model, templates); stamped the
        _drop(incoming, f"0-warmup-{i:03d}.json", event(i, "W", "2024-12-31"))  # day before: history stays in order
    deadline = time.time() + 60
    while _count(db) < 20 and time.time() < deadline:
        time.sleep(0.05)
    with contextlib.closing(sqlite3.connect(db)) as conn:
        after_warmup = conn.execute("SELECT max(rowid) FROM intake").fetchone()[0] or 0
    renamed: dict[str, float] = {}
    visible: dict[str, float] = {}
    total = int(rate * seconds)

    def produce() -> None:
        start = time.perf_counter()
        for i in range(total):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            _drop(incoming, f"{time.time_ns():020d}-{i:08d}.json", event(i))
            renamed[f"B{i:07d}"] = time.time()

    def watch() -> None:  # a reader polling the audit log: when each committed row became visible
        with contextlib.closing(sqlite3.connect(db)) as conn:
            last, end = after_warmup, time.time() + seconds + 120
            while len(visible) < total and time.time() < end:
                rows = conn.execute("SELECT rowid, event_id FROM intake WHERE rowid > ? AND outcome = 'accepted'",
                                    (last,)).fetchall()
                now = time.time()
                for rowid, eid in rows:
                    visible.setdefault(eid, now)
                    last = max(last, rowid)
                time.sleep(0.002)

    threads = [threading.Thread(target=produce), threading.Thread(target=watch)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    hwm = _vmhwm(proc.pid)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT event_id, at FROM intake WHERE outcome = 'accepted'").fetchall()
    stamped = _ms(datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp() - renamed[eid]
                  for eid, at in rows if eid in renamed)
    seen = _ms(visible[eid] - renamed[eid] for eid in visible if eid in renamed)
    if not stamped:
        print("latency: no decisions recorded")
        return
    label = "" if pipeline_us is None else f" [stand-in pipeline: {pipeline_us:g} µs CPU/event]"
    print(f"latency at {rate:.0f} events/s for {seconds:.0f} s{label}: {len(stamped)}/{total} committed; "
          f"arrival→commit p50 {_pick(stamped, 0.5):.1f} ms, p99 {_pick(stamped, 0.99):.1f} ms, max {stamped[-1]:.1f} "
          f"ms (intake.at: stamped in the transaction, ms precision); arrival→visible to a reader p50 "
          f"{_pick(seen, 0.5):.1f} ms, p99 {_pick(seen, 0.99):.1f} ms (polled every 2 ms); daemon peak RSS {hwm}; "
          f"load average {os.getloadavg()[0]:.2f}")


def _ms(seconds: Iterable[float]) -> list[float]:
    return sorted(s * 1000 for s in seconds)


def _pick(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] if values else math.nan


def _drop(incoming: Path, name: str, data: bytes) -> None:
    """The producer protocol: write a temporary name, then rename it into incoming/."""
    tmp = incoming / f".{name}.tmp"
    tmp.write_bytes(data)
    os.rename(tmp, incoming / name)


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
    ap.add_argument("--rate", default="500", help="events/s for the latency run; several: 250,500,1000")
    ap.add_argument("--seconds", type=float, default=10.0, help="length of each latency run")
    ap.add_argument("--daemon-args", default="", help="extra `rules run` options for the latency run, e.g. "
                    "'--interval 0.002'")
    ap.add_argument("--pipeline-us", type=float, help="latency run only: replace Pipeline.process_batch by a "
                    "stand-in spending this many µs of CPU per event (measures the daemon, not the decisions)")
    ap.add_argument("--profile", action="store_true", help="cProfile the drain")
    ap.add_argument("--skip", choices=["drain", "latency"], help="run only the other part")
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} (shared with other work)")
    work = Path(tempfile.mkdtemp(prefix="daemon-bench-"))
    try:
        if args.skip != "latency":
            for n, rate in enumerate(float(r) for r in args.rate.split(",")):
                latency(work / f"latency-{n}", rate, args.seconds, args.daemon_args.split(), args.pipeline_us)
        if args.skip != "drain":
            drain(work, args.files, args.profile)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
