"""The SRE metrics on the daemon's /metrics, and the Grafana dashboard that reads them."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from insights_kit import DAY, random_history
from prometheus_client.parser import text_string_to_metric_families

from engine.report import metrics as m
from engine.report.metrics_prometheus import InsightsCollector
from engine.run.daemon.metrics import Metrics
from engine.store.metrics_views import InsightsStore

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "escalation-sre.json"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def key(name: str, **labels: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return (name, tuple(sorted(labels.items())))


def test_the_collector_serves_the_contract_figures(tmp_path: Path) -> None:
    now = 1_796_000_000.0
    history = random_history(tmp_path / "a.db", 200, now - 6 * DAY, days=5)
    metrics = Metrics()  # the daemon's registry, as `rules run` registers the collector on it
    metrics.registry.register(InsightsCollector(str(history.path)))
    assert metrics.render().decode().count("# TYPE escalation_sre_up gauge") == 1
    collector = InsightsCollector(str(history.path), clock=lambda: now)
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry()
    registry.register(collector)
    got = samples(generate_latest(registry).decode())
    with InsightsStore.open(history.path) as store:
        stats = {(s.metric, s.group): s for s in m.compute(store, now - 7 * DAY, now, ("overall", "severity"))}
    mtta = stats[("mtta", "all")]
    assert got[key("escalation_sre_duration_seconds", metric="mtta", severity="all", stat="mean")] == \
        pytest.approx(mtta.mean)
    assert got[key("escalation_sre_incidents", metric="mtta", severity="all", kind="censored")] == mtta.n_censored
    fp = stats[("false_positive", "all")]
    assert got[key("escalation_sre_feedback_coverage_percent", severity="all")] == pytest.approx(fp.extra["coverage"])
    assert got[key("escalation_sre_status", metric="escalation", severity="CRITICAL")] == \
        {"met": 0, "warning": 1, "breached": 2}[stats[("escalation", "CRITICAL")].status]
    assert got[key("escalation_sre_threshold", metric="mtta", kind="alert")] == 300
    assert got[key("escalation_sre_up")] == 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_daemon_serves_them_on_metrics(tmp_path: Path) -> None:
    now = time.time()
    history = random_history(tmp_path / "a.db", 120, now - 6 * DAY, days=5)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "VIRTUAL_ENV")}
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "run", "--db", str(history.path), "--spool",
                             str(tmp_path / "spool"), "--listen", f"127.0.0.1:{port}"], cwd=ROOT,
                            env={**env, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL,
                            stderr=open(tmp_path / "log", "ab"))  # noqa: SIM115
    try:
        text = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "escalation_sre_up" not in text:
            try:
                text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
            except OSError:
                time.sleep(0.1)
        got = samples(text)
        assert got[key("escalation_sre_up")] == 1, (tmp_path / "log").read_text()
        paged = sum(1 for t in history.truths if t.page is not None)
        assert got[key("escalation_sre_incidents", metric="mtta", severity="all", kind="n")] == paged
        assert "escalation_events_total" in text  # the daemon's own series are still there
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def test_the_grafana_dashboard_reads_only_series_that_exist(tmp_path: Path) -> None:
    dash = json.loads(DASHBOARD.read_text())
    assert dash["uid"] and dash["schemaVersion"] >= 36
    (var,) = dash["templating"]["list"]
    assert (var["type"], var["query"], var["name"]) == ("datasource", "prometheus", "datasource")
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    now = 1_796_000_000.0
    history = random_history(tmp_path / "a.db", 60, now - 6 * DAY, days=5)
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry()
    registry.register(InsightsCollector(str(history.path), clock=lambda: now))
    served = {fam.name for fam in text_string_to_metric_families(generate_latest(registry).decode())}
    for panel in dash["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}"
        for target in panel["targets"]:
            names = {w for w in _words(target["expr"]) if w.startswith("escalation_")}
            assert names and names <= served, (panel["title"], names - served)


def _words(expr: str) -> list[str]:
    out, cur = [], ""
    for ch in expr:
        if ch.isalnum() or ch == "_":
            cur += ch
        else:
            out.append(cur)
            cur = ""
    return [*out, cur]
