"""A rate limit (429 + Retry-After) delays a send and spends no attempt, on every executor path: the daemon's
concurrent dispatcher, its serial executor (``DaemonConfig(serial=True)``) and ``Executor.run_pending``."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from daemon_kit import drop
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from actions.retry import RetryPolicy
from engine.run.lanes import Limits

THROTTLED = 3  # more 429s than the retry budget below has attempts


def _page() -> dict:
    return {"event_id": "INC-1", "timestamp": datetime.now(UTC).isoformat(), "source": "test",
            "service": "payment-api", "title": "down", "conditions": {"service_unavailable": True}}


@pytest.fixture
def vendor(httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """PagerDuty's stand-in: 429 with Retry-After 1 for the first THROTTLED triggers, then 202."""
    seen: list[dict] = []

    def handler(request: Request) -> Response:
        seen.append(json.loads(request.data))
        if len(seen) <= THROTTLED:
            return Response("slow down", status=429, headers={"Retry-After": "1"})
        return Response(json.dumps({"status": "success", "dedup_key": seen[-1]["dedup_key"]}), status=202)

    httpserver.expect_request("/v2/enqueue", method="POST").respond_with_handler(handler)
    monkeypatch.setenv("PAGERDUTY_ROUTING_KEY", "R0UTING")
    monkeypatch.setenv("PAGERDUTY_EVENTS_URL", httpserver.url_for("/v2/enqueue"))
    return seen


def _attempts(audit) -> list[tuple[int, int, str | None, float]]:
    return audit.conn.execute("SELECT t.attempt, t.ok, t.reason, t.waited FROM attempts t JOIN actions a "
                              "ON a.id = t.action_id WHERE a.action = 'pagerduty' AND a.step = 0 "
                              "ORDER BY t.id").fetchall()


def _result(audit) -> tuple[str]:
    return audit.conn.execute("SELECT r.outcome FROM results r JOIN actions a ON a.id = r.action_id "
                              "WHERE a.action = 'pagerduty' AND a.step = 0").fetchone()


@pytest.mark.parametrize("serial", [True, False], ids=["serial", "concurrent"])
def test_the_daemon_delays_a_rate_limited_page_without_spending_its_attempts(make_daemon, vendor: list[dict],
                                                                            serial: bool) -> None:
    daemon = make_daemon(serial=serial, limits=Limits(rate_jitter=0.0))
    daemon.executor.retry = RetryPolicy(max_attempts=2)
    drop(daemon.spool.incoming, "1.json", _page())
    stats = daemon.run_once()
    assert stats.actions[("pagerduty", "ok")] == 1, _attempts(daemon.audit)
    rows = _attempts(daemon.audit)
    assert [(n, ok, reason) for n, ok, reason, _ in rows] == [
        (1, 0, "rateLimited"), (2, 0, "rateLimited"), (3, 0, "rateLimited"), (4, 1, None)]
    assert [waited for *_, waited in rows] == [0.0, 1.0, 1.0, 1.0]  # each Retry-After waited, recorded
    triggers = [b for b in vendor if b.get("event_action") == "trigger"]
    assert len(triggers) == THROTTLED + 1 and len({b["dedup_key"] for b in triggers}) == 1


def test_run_pending_waits_out_each_retry_after_and_spends_no_attempt(make_daemon, vendor: list[dict]) -> None:
    daemon = make_daemon()
    daemon.pipeline.process("1.json", json.dumps(_page()).encode())
    slept: list[float] = []
    executor = daemon.executor
    executor.retry, executor.sleep, executor.defer = RetryPolicy(max_attempts=2), slept.append, None
    reports = [r for r in executor.run_pending() if r.action == "pagerduty"]
    assert [r.outcome for r in reports] == ["ok"] and slept[:THROTTLED] == [1.0] * THROTTLED
    assert [(n, ok, reason) for n, ok, reason, _ in _attempts(daemon.audit)] == [
        (1, 0, "rateLimited"), (2, 0, "rateLimited"), (3, 0, "rateLimited"), (4, 1, None)]
    assert _result(daemon.audit)[0] == "ok"


def test_a_server_error_still_spends_attempts(make_daemon, httpserver: HTTPServer,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    httpserver.expect_request("/v2/enqueue", method="POST").respond_with_data("down", status=503)
    monkeypatch.setenv("PAGERDUTY_ROUTING_KEY", "R0UTING")
    monkeypatch.setenv("PAGERDUTY_EVENTS_URL", httpserver.url_for("/v2/enqueue"))
    daemon = make_daemon()
    daemon.pipeline.process("1.json", json.dumps(_page()).encode())
    executor = daemon.executor
    executor.retry, executor.sleep, executor.defer = RetryPolicy(max_attempts=2), lambda _: None, None
    executor.run_pending()
    assert [(n, reason) for n, _, reason, _ in _attempts(daemon.audit)] == [(1, "serverError"), (2, "serverError")]
    assert _result(daemon.audit)[0] == "failed"
