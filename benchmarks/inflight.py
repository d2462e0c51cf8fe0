"""The ``inflight`` phase of benchmarks/delivery.py: HTTP intake and decision latency with hundreds of sends in flight.

The real ``rules run --listen`` runs as a subprocess (the PagerDuty adapter's own per-key limiter lifted, as in
the other phases), its PagerDuty, Slack and Teams stand-ins in another process on loopback, each answering
after ``--inflight-latency`` seconds (default 2). The benchmark process is only the client:

1. **idle**: ``--probes`` sequential ``POST /v1/events`` of small non-paging events (distinct services), one every
   ``--probe-every`` seconds (default 0.05: a latency, not a throughput, figure), no send in flight;
2. **storm**: ``--inflight-outages`` paging events written into ``incoming/`` (each one a PagerDuty trigger, a
   Slack page, a Slack and a Teams message); once they are all decided (sends in flight, no backlog of files)
   and ``escalation_outbox_in_flight`` (summed over the adapters) is at least ``--inflight-min``, the same
   probes again. The daemon's CPU (all threads, and its loop thread alone) is read from /proc.

Per side: request → ``202`` (intake), and POST → the decision row committed (a read-only connection polls
``decisions`` every 2 ms from a thread of this process: visibility of the commit). ``/metrics`` is read every
0.2 s for the in-flight gauge (per adapter, refreshed by the daemon about once a second); its peak and its value
while the probes ran are printed, with the arrivals at the stand-ins (sends in the last ``latency`` seconds:
the concurrency the vendors see). Delivery is limited to 100 sends in flight per adapter (``--send-per-adapter
100 --send-per-key 100``): an adapter's httpx client keeps at most 100 connections.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
ENV = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "PYTHONPATH", "VIRTUAL_ENV")}
DAEMON = ("import actions.pagerduty as p; from actions.transport import RateLimiter; "
          "p.ROUTING_KEY_LIMITER = RateLimiter(10**9, 60.0); from engine.cli import entry; entry()")
VENDORS = """
import sys, time
sys.path.insert(0, sys.argv[2])
from standin import Standin
vendors = [Standin(latency=float(sys.argv[1])) for _ in range(3)]
print(" ".join(v.url for v in vendors), flush=True)
sys.stdin.readline()
with vendors[0].lock, vendors[1].lock, vendors[2].lock:
    print(" ".join(repr(t + time.time() - time.monotonic()) for v in vendors for t, _, _ in v.received), flush=True)
"""
GAUGE = re.compile(r'^escalation_outbox_in_flight\{action="([^"]+)"\} ([0-9.e+]+)$', re.M)


def probe(side: str, i: int) -> bytes:
    return json.dumps({"event_id": f"probe-{side}-{i:04d}", "timestamp": datetime.now(UTC).isoformat(),
                       "source": "bench", "service": f"probe-{side}-{i:04d}", "environment": "production",
                       "title": f"probe {i}", "metrics": {"error_rate": 0.0}}).encode()


def outage(i: int) -> bytes:
    return json.dumps({"event_id": f"storm-{i:05d}", "timestamp": datetime.now(UTC).isoformat(), "source": "bench",
                       "service": f"storm-{i:05d}", "environment": "production", "title": f"down {i}",
                       "conditions": {"service_unavailable": True}}).encode()


class Watch:
    """A thread of this process: decision rows as they become visible, and the in-flight gauge of /metrics."""

    def __init__(self, db: Path, base: str) -> None:
        self.db, self.base = db, base
        self.seen: dict[str, tuple[float, str]] = {}  # event_id -> (time seen committed, decisions.at)
        self.gauge: list[tuple[float, int]] = []
        self.storm = 0  # storm decisions seen
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._rows, daemon=True),
                        threading.Thread(target=self._metrics, daemon=True)]
        for t in self.threads:
            t.start()

    def _rows(self) -> None:
        while not self.db.exists() and not self.stop.is_set():
            time.sleep(0.01)
        conn, last = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True), 0
        while not self.stop.wait(0.002):
            try:
                rows = conn.execute("SELECT rowid, event_id, at FROM decisions WHERE rowid > ?", (last,)).fetchall()
            except sqlite3.OperationalError:  # the schema is not there yet
                continue
            now = time.time()
            for rowid, eid, at in rows:
                if eid.startswith("probe-"):
                    self.seen.setdefault(eid, (now, at))
                else:
                    self.storm += 1
                last = max(last, rowid)
        conn.close()

    def _metrics(self) -> None:
        while not self.stop.wait(0.2):
            try:
                text = urllib.request.urlopen(f"{self.base}/metrics", timeout=5).read().decode()
            except OSError:
                continue
            self.gauge.append((time.time(), sum(int(float(n)) for _, n in GAUGE.findall(text))))

    def in_flight(self) -> int:
        return self.gauge[-1][1] if self.gauge else 0

    def close(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(5)


def post_all(base: str, side: str, n: int, every: float = 0.0) -> list[tuple[str, float, float]]:
    """``n`` sequential POSTs, one each ``every`` seconds: (event_id, wall time sent, seconds to the 202)."""
    out: list[tuple[str, float, float]] = []
    start = time.monotonic()
    for i in range(n):
        time.sleep(max(0.0, start + i * every - time.monotonic()))
        body = probe(side, i)
        req = urllib.request.Request(f"{base}/v1/events", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
        sent, started = time.time(), time.perf_counter()
        with urllib.request.urlopen(req, timeout=30) as resp:
            resp.read()
            assert resp.status == 202, resp.status
        out.append((f"probe-{side}-{i:04d}", sent, time.perf_counter() - started))
    return out


def until(predicate: Any, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise SystemExit(f"inflight: timed out waiting for {what}")
        time.sleep(0.02)


def side(watch: Watch, posts: list[tuple[str, float, float]], timeout: float) -> dict[str, Any]:
    until(lambda: all(eid in watch.seen for eid, _, _ in posts), timeout, "the probes' decisions")
    intake = sorted(d for _, _, d in posts)
    committed = sorted(watch.seen[eid][0] - sent for eid, sent, _ in posts)
    decided = sorted(datetime.fromisoformat(watch.seen[eid][1].replace("Z", "+00:00")).timestamp() - sent
                     for eid, sent, _ in posts)
    return {"intake": intake, "committed": committed, "decided": decided}


def inflight(probes: int = 200, outages: int = 1500, latency: float = 2.0, minimum: int = 200,
             deadline: float = 300.0, every: float = 0.05) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="delivery-inflight-"))
    vendors = subprocess.Popen([sys.executable, "-c", VENDORS, str(latency), str(REPO / "tests")],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    daemon = watch = None
    try:
        pd, slack, teams = (vendors.stdout.readline() if vendors.stdout else "").split()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env = {**ENV, "PYTHONPATH": str(REPO), "PAGERDUTY_ROUTING_KEY": "R0UTINGKEY",
               "PAGERDUTY_EVENTS_URL": f"{pd}/v2/enqueue", "SLACK_BOT_TOKEN": "xoxb-bench",
               "SLACK_WEBHOOK_URL": f"{slack}/hook/T000/B000/XXXXXXXXXXXXXXXXXXXX", "SLACK_API_URL": f"{slack}/api",
               "TEAMS_WEBHOOK_URL": f"{teams}/webhook"}
        daemon = subprocess.Popen([sys.executable, "-c", DAEMON, "run", "--rules", str(REPO / "rules"),
                                   "--db", str(work / "audit.db"), "--spool", str(work / "spool"),
                                   "--listen", f"127.0.0.1:{port}", "--send-per-adapter", "100",
                                   "--send-per-key", "100", "--stop-grace", "0", "--reload-interval", "0"],
                                  cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=open(work / "daemon.log", "wb"))  # noqa: SIM115
        base = f"http://127.0.0.1:{port}"
        watch = Watch(work / "audit.db", base)
        until(lambda: _ok(f"{base}/healthz"), 60, "the daemon's /healthz")
        post_all(base, "warm", 20)  # the first requests (imports, connections) belong to neither side
        cpu0, loop0 = _cpu(daemon.pid), _cpu(daemon.pid, daemon.pid)
        idle = side(watch, post_all(base, "idle", probes, every), 60)
        idle["in_flight"] = watch.in_flight()
        incoming = work / "spool" / "incoming"
        for i in range(outages):
            (incoming / f".storm-{i:05d}.tmp").write_bytes(outage(i))
            os.rename(incoming / f".storm-{i:05d}.tmp", incoming / f"storm-{i:05d}.json")
        until(lambda: watch.in_flight() >= minimum, deadline, f"{minimum} sends in flight")
        until(lambda: watch.storm >= outages, deadline, "the storm's decisions")  # sends in flight, not a backlog
        if watch.in_flight() < minimum:
            raise SystemExit(f"inflight: fewer than {minimum} sends in flight once the storm was decided")
        began = time.time()
        posts = post_all(base, "busy", probes, every)
        ended = time.time()
        busy = side(watch, posts, deadline)
        during = [n for t, n in watch.gauge if began <= t <= ended]
        busy["in_flight"] = min(during) if during else watch.in_flight()
        cpu, loop = _cpu(daemon.pid) - cpu0, _cpu(daemon.pid, daemon.pid) - loop0
    finally:
        if watch is not None:
            watch.close()
        if daemon is not None:
            daemon.terminate()
            daemon.wait(30)
        out, _ = vendors.communicate("done\n", timeout=60)
    arrivals = sorted(float(t) for t in out.split())
    at_vendors, j = 0, 0
    for i, t in enumerate(arrivals):  # sends the stand-ins hold at once: arrivals within one latency
        while arrivals[j] <= t - latency:
            j += 1
        at_vendors = max(at_vendors, i - j + 1)
    return {"phase": "inflight", "idle": idle, "busy": busy, "peak": max((n for _, n in watch.gauge), default=0),
            "at_vendors": at_vendors, "sends": len(arrivals), "daemon_cpu": cpu, "loop_cpu": loop, "latency": latency,
            "probes": probes}


def _ok(url: str) -> bool:
    try:
        return bool(urllib.request.urlopen(url, timeout=2).status == 200)
    except OSError:
        return False


def _cpu(pid: int, thread: int | None = None) -> float:
    """User + system CPU seconds of a process (its threads included), or of one of its threads, from /proc."""
    path = f"/proc/{pid}/task/{thread}/stat" if thread else f"/proc/{pid}/stat"
    fields = Path(path).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def report(r: dict[str, Any]) -> None:
    print(f"inflight: vendors answer after {r['latency']:.1f} s; peak sends in flight {r['peak']} "
          f"(escalation_outbox_in_flight, summed), at the stand-ins {r['at_vendors']}; {r['sends']} sends in all; "
          f"daemon CPU {r['daemon_cpu']:.1f} s (its loop thread {r['loop_cpu']:.1f} s) from the idle probes on")
    print(f"{'':<22} {'in flight':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for key, label in (("intake", "POST -> 202"), ("decided", "POST -> decisions.at"),
                       ("committed", "POST -> row committed")):
        for name in ("idle", "busy"):
            v = r[name][key]
            print(f"{label + ' ' + name:<22} {r[name]['in_flight']:>9} {1000 * pct(v, .5):>8.1f} "
                  f"{1000 * pct(v, .99):>8.1f} {1000 * v[-1]:>8.1f}")
        print(f"{label + ' busy/idle':<22} {'':>9} {pct(r['busy'][key], .5) / pct(r['idle'][key], .5):>8.2f} "
              f"{pct(r['busy'][key], .99) / pct(r['idle'][key], .99):>8.2f} "
              f"{r['busy'][key][-1] / r['idle'][key][-1]:>8.2f}")
