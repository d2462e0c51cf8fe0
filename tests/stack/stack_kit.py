"""Real peers for the end-to-end tests: Prometheus and Alertmanager (Debian's binaries) on free loopback
ports with temporary config and data directories, a scrape target we can take down, stand-in vendors
(PagerDuty, Slack) that record what they receive, and the real `rules run --listen` daemon. Every
process is started by PID and stopped by PID."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
ALERTMANAGER = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"  # Debian's name
TOKEN = "stack-intake-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Callable[[], Any], timeout: float, step: float = 0.1, what: str = "") -> Any:
    """Poll ``predicate`` until it is truthy; its value, or AssertionError naming ``what`` after ``timeout``."""
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what or predicate}")
        time.sleep(step)


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - loopback only
            return bool(resp.status == 200)
    except OSError:
        return False


class Process:
    """One child process, stopped by its PID (SIGTERM, then SIGKILL)."""

    def __init__(self, argv: list[str], log: Path, env: dict[str, str] | None = None, cwd: Path = REPO) -> None:
        self.log = log
        self.proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL,  # noqa: S603
                                     stderr=open(log, "ab"))  # noqa: SIM115

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self, timeout: float = 20) -> int:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                return self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
        return self.proc.wait(timeout=timeout)

    def alive(self) -> bool:
        return self.proc.poll() is None


# -- the scrape target ------------------------------------------------------------------------------
class Target:
    """A /metrics endpoint: ``series`` (name → {labels text: value}) as Prometheus text; ``stop()`` takes it
    down (the scrape fails: ``up == 0``), ``start()`` brings it back on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.series: dict[str, float] = {"payment_requests_total": 1.0}
        self.server: ThreadingHTTPServer | None = None
        self.start()

    def render(self) -> bytes:
        return "".join(f"{k} {v}\n" for k, v in list(self.series.items())).encode()

    def start(self) -> None:
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                body = target.render()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


# -- stand-in vendors -------------------------------------------------------------------------------
@dataclass
class Received:
    path: str
    body: dict[str, Any]
    at: float  # wall clock, seconds


@dataclass
class Vendors:
    """PagerDuty (``/pagerduty``: 202 like the Events API v2) and a Slack incoming webhook (``/slack``: ok)."""

    port: int = field(default_factory=free_port)
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        vendors = self
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                with lock:
                    vendors.received.append(Received(self.path, body, time.time()))
                if self.path.startswith("/pagerduty"):
                    reply = json.dumps({"status": "success", "message": "Event processed",
                                        "dedup_key": body.get("dedup_key", "")}).encode()
                    self.send_response(202)
                else:
                    reply = b"ok"
                    self.send_response(200)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def env(self) -> dict[str, str]:
        return {"PAGERDUTY_ROUTING_KEY": "R0UTINGKEY0000000000000000000000", "PAGERDUTY_EVENTS_URL":
                f"http://127.0.0.1:{self.port}/pagerduty", "SLACK_WEBHOOK_URL": f"http://127.0.0.1:{self.port}/slack"}

    def pagerduty(self) -> list[Received]:
        return [r for r in list(self.received) if r.path.startswith("/pagerduty")]

    def slack(self) -> list[Received]:
        return [r for r in list(self.received) if r.path.startswith("/slack")]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# -- the stack --------------------------------------------------------------------------------------
@dataclass
class StackConfig:
    """Short intervals so that a test takes seconds: Prometheus scrapes and evaluates every second (and sends
    an alert as soon as it fires or resolves); Alertmanager waits 1 s for a group and flushes changes every 2 s."""

    scrape_interval: str = "1s"
    group_wait: str = "1s"
    group_interval: str = "2s"
    repeat_interval: str = "1h"
    max_alerts: int = 0
    group_by: tuple[str, ...] = ("service",)
    suppression_group_interval: str = "20s"  # the daemon's own grouping (its channel updates)


PROM_RULES = """groups:
  - name: stack
    rules:
      - alert: PaymentApiDown
        expr: up{job="payment-api"} == 0
        labels: {severity: critical}
        annotations: {summary: "payment-api down on {{ $labels.instance }}"}
      - alert: CheckoutShardErrors
        expr: checkout_shard_errors > 0
        labels: {severity: page}
        annotations: {summary: "checkout-api errors on shard {{ $labels.shard }}"}
"""


class Stack:
    def __init__(self, root: Path, config: StackConfig | None = None) -> None:
        self.root, self.config = root, config or StackConfig()
        root.mkdir(parents=True, exist_ok=True)
        self.vendors = Vendors()
        self.target = Target()
        self.storm = Target()  # the shards of checkout-api: one series (one alert) per shard
        self.storm.series = {}
        self.daemon_port, self.am_port, self.prom_port = free_port(), free_port(), free_port()
        self.db = root / "audit.db"
        self.processes: list[Process] = []
        try:
            self._start_daemon()
            self._start_alertmanager()
            self._start_prometheus()
        except BaseException:
            self.stop()
            raise

    # -- processes ----------------------------------------------------------------------------------
    def _start_daemon(self) -> None:
        rules = self.root / "rules"
        shutil.copytree(REPO / "rules", rules)
        suppression = (rules / "suppression.yaml").read_text()
        (rules / "suppression.yaml").write_text(
            suppression.replace("group_interval: 5m", f"group_interval: {self.config.suppression_group_interval}"))
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "PYTHONPATH", "VIRTUAL_ENV")}
        env.update(self.vendors.env(), INTAKE_TOKEN=TOKEN)
        argv = [sys.executable, "-c", "from engine.cli import entry; entry()", "run", "--rules", str(rules),
                "--db", str(self.db), "--spool", str(self.root / "spool"), "--listen",
                f"127.0.0.1:{self.daemon_port}", "--interval", "0.02", "--reload-interval", "0"]
        self.daemon = self._spawn(argv, "daemon.log", env)
        wait_for(lambda: http_ok(f"http://127.0.0.1:{self.daemon_port}/healthz"), 60, what="the daemon's /healthz")

    def _start_alertmanager(self) -> None:
        c = self.config
        (self.root / "alertmanager.yml").write_text(json.dumps({
            "route": {"receiver": "escalation", "group_by": list(c.group_by), "group_wait": c.group_wait,
                      "group_interval": c.group_interval, "repeat_interval": c.repeat_interval},
            "receivers": [{"name": "escalation", "webhook_configs": [{
                "url": f"http://127.0.0.1:{self.daemon_port}/v1/events", "send_resolved": True,
                "max_alerts": c.max_alerts,
                "http_config": {"authorization": {"type": "Bearer", "credentials": TOKEN}}}]}]}))
        (self.root / "am-data").mkdir()
        self.alertmanager = self._spawn([
            ALERTMANAGER, f"--config.file={self.root / 'alertmanager.yml'}",
            f"--storage.path={self.root / 'am-data'}", f"--web.listen-address=127.0.0.1:{self.am_port}",
            "--cluster.listen-address=", "--log.level=warn"], "alertmanager.log")
        wait_for(lambda: http_ok(f"http://127.0.0.1:{self.am_port}/-/ready"), 60, what="Alertmanager /-/ready")

    def _start_prometheus(self) -> None:
        c = self.config
        (self.root / "rules.yml").write_text(PROM_RULES)
        (self.root / "prometheus.yml").write_text(json.dumps({
            "global": {"scrape_interval": c.scrape_interval, "evaluation_interval": c.scrape_interval,
                       "scrape_timeout": c.scrape_interval},
            "rule_files": [str(self.root / "rules.yml")],
            "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{self.am_port}"]}]}]},
            "scrape_configs": [
                {"job_name": "payment-api", "static_configs": [
                    {"targets": [f"127.0.0.1:{self.target.port}"], "labels": {"service": "payment-api"}}]},
                {"job_name": "checkout-api", "static_configs": [
                    {"targets": [f"127.0.0.1:{self.storm.port}"], "labels": {"service": "checkout-api"}}]}]}))
        (self.root / "prom-data").mkdir()
        self.prometheus = self._spawn([
            PROMETHEUS, f"--config.file={self.root / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.root / 'prom-data'}", f"--web.listen-address=127.0.0.1:{self.prom_port}",
            # a firing alert is re-sent every minute (the default; Alertmanager holds it for 4 resends): at 1 s
            # a 10,000-alert storm overflows the notifier's queue and Alertmanager times alerts out as resolved
            "--alertmanager.notification-queue-capacity=50000", "--log.level=warn"], "prometheus.log")
        wait_for(lambda: http_ok(f"http://127.0.0.1:{self.prom_port}/-/ready"), 60, what="Prometheus /-/ready")

    def _spawn(self, argv: list[str], log: str, env: dict[str, str] | None = None) -> Process:
        process = Process(argv, self.root / log, env)
        self.processes.append(process)
        return process

    def stop(self) -> None:
        """Every process by its PID, newest first; the servers in this process too."""
        for process in reversed(self.processes):
            process.stop()
        self.processes.clear()
        for server in (self.target, self.storm, self.vendors):
            server.stop()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(self.root.glob("*.log")))

    # -- the audit log ------------------------------------------------------------------------------
    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if not self.db.exists():
            return []
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=10) as conn:
            return conn.execute(sql, params).fetchall()

    def count(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        rows = self.query(sql, params)
        return int(rows[0][0]) if rows else 0

    def scraped(self, job: str) -> bool:
        """Prometheus has scraped ``job``'s target at least once (a new target's first scrape may wait)."""
        url = f"http://127.0.0.1:{self.prom_port}/api/v1/query?query=up%7Bjob%3D%22{job}%22%7D"
        with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - loopback only
            return bool(json.load(resp)["data"]["result"])

    def prometheus_alerts(self) -> list[dict[str, Any]]:
        url = f"http://127.0.0.1:{self.prom_port}/api/v1/alerts"
        with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - loopback only
            return list(json.load(resp)["data"]["alerts"])
