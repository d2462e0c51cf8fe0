"""Sends in flight never hold up intake or decisions: with every PagerDuty send blocked at the vendor, the HTTP
intake still answers 202 and new events are decided and committed before one send is released. The latency
figures are benchmarks/delivery.py ``inflight``; nothing here measures time."""

from __future__ import annotations

import http.client
import json
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from daemon_kit import drop, wait_for
from standin import Standin

from engine.run.daemon.http import IntakeConfig, serve
from engine.run.daemon.outbox import Stats
from engine.run.lanes import Workers

SENDS = 40  # under the 48 sends per routing key


def _page(i: int) -> dict[str, Any]:
    return {"event_id": f"PAGE-{i}", "timestamp": datetime.now(UTC).isoformat(), "source": "test",
            "service": f"down-{i}", "title": f"down {i}", "conditions": {"service_unavailable": True}}


def _probe(i: int) -> bytes:
    return json.dumps({"event_id": f"PROBE-{i}", "timestamp": datetime.now(UTC).isoformat(), "source": "test",
                       "service": f"probe-{i}", "environment": "production", "title": f"probe {i}",
                       "metrics": {"error_rate": 0.0}}).encode()


def _post(port: int, body: bytes) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", "/v1/events", body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def _count(db: Path, sql: str) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return int(conn.execute(sql).fetchone()[0])
    finally:
        conn.close()


@pytest.fixture
def pd(monkeypatch: pytest.MonkeyPatch) -> Iterator[Standin]:
    s = Standin()
    s.hang.clear()  # every send blocks at the vendor until the test releases it
    monkeypatch.setenv("PAGERDUTY_ROUTING_KEY", "R0UTINGKEY")
    monkeypatch.setenv("PAGERDUTY_EVENTS_URL", f"{s.url}/v2/enqueue")
    yield s
    s.close()


def test_intake_and_decisions_go_on_while_sends_are_blocked(make_daemon, pd: Standin, tmp_path: Path) -> None:
    daemon = make_daemon()
    db = tmp_path / "audit.db"
    server = serve(IntakeConfig(spool=daemon.spool, metrics=daemon.metrics, health=daemon.health,
                                on_write=daemon.wake.set), "127.0.0.1", 0)
    stats, errors = Stats(), []

    def loop() -> None:  # the daemon's loop thread (run_forever without its signal handlers)
        try:
            while not daemon.stop.is_set():
                if not daemon.step(stats):
                    daemon.wake.wait(0.01)
                    daemon.wake.clear()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    thread = threading.Thread(target=loop, name="loop", daemon=True)
    for i in range(SENDS):
        drop(daemon.spool.incoming, f"page-{i:03d}.json", _page(i))
    thread.start()
    try:
        assert wait_for(lambda: len(pd.bodies("/v2/enqueue")) >= SENDS, 30), "the pages reached the vendor"
        for i in range(10):
            assert _post(server.server_port, _probe(i)) == 202
        assert wait_for(lambda: _count(db, "SELECT count(*) FROM decisions WHERE event_id LIKE 'PROBE-%'") == 10,
                        30), "the new events were decided while every send was blocked"
        assert not pd.hang.is_set()
        assert _count(db, "SELECT count(*) FROM results r JOIN actions a ON a.id = r.action_id "
                          "WHERE a.action = 'pagerduty'") == 0, "no send had finished"
        assert daemon.dispatcher.in_flight()["pagerduty"] == SENDS
        pd.hang.set()
        assert wait_for(lambda: _count(db, "SELECT count(*) FROM results r JOIN actions a ON a.id = r.action_id "
                                           "WHERE a.action = 'pagerduty' AND r.outcome = 'ok'") == SENDS, 30)
    finally:
        pd.hang.set()
        daemon.stop.set()
        daemon.wake.set()
        thread.join(30)
        server.shutdown()
        server.server_close()
    assert not thread.is_alive() and errors == []
    assert daemon.drain(10.0) == []


def test_worker_threads_are_started_off_the_submitting_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """``Thread.start()`` waits until the new thread runs (~14 ms each with a few hundred threads busy):
    the loop, which submits the sends, must not pay it per worker."""
    starters: list[threading.Thread] = []
    real = threading.Thread.start

    def start(self: threading.Thread) -> None:
        if self.name.startswith("send-pd-"):
            starters.append(threading.current_thread())
        real(self)

    monkeypatch.setattr(threading.Thread, "start", start)

    class Echo:
        def send(self, request: int) -> int:
            return request

    workers = Workers()
    try:
        for i in range(5):
            workers.submit("pd", 3, i, Echo(), i)
        done = sorted(workers.done.get(timeout=10)[:2] for _ in range(5))
        assert done == [(i, i) for i in range(5)]
        assert wait_for(lambda: len(starters) >= 3, 10)
        assert len(starters) == 3, "three workers, never more than the limit"
        assert threading.current_thread() not in starters
    finally:
        workers.close()
