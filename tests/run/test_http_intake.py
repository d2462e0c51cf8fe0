"""HTTP intake on 127.0.0.1: auth (token, HMAC), size limit, 202 only after the file is in the spool."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_kit import event

from engine.run.daemon.http import IntakeConfig, serve
from engine.run.daemon.metrics import Health, Metrics
from engine.run.daemon.spool import Spool

BODY = json.dumps(event(1)).encode()


@pytest.fixture
def intake(tmp_path: Path) -> Iterator[tuple[IntakeConfig, int]]:
    spool = Spool(tmp_path / "spool")
    spool.ensure()
    config = IntakeConfig(spool=spool, metrics=Metrics(queue_depth=spool.depth), health=Health(), max_bytes=4096)
    server = serve(config, "127.0.0.1", 0)
    yield config, server.server_port
    server.shutdown()
    server.server_close()


def request(port: int, method: str, path: str, body: bytes | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_post_writes_the_body_into_the_spool_before_202(intake) -> None:
    config, port = intake
    status, body = request(port, "POST", "/v1/events", BODY, {"Content-Type": "application/json"})
    assert status == 202
    name = json.loads(body)["accepted"]
    assert (config.spool.incoming / name).read_bytes() == BODY
    assert [n for n in os.listdir(config.spool.incoming)] == [name]  # no temporary left behind


def test_bearer_token(intake) -> None:
    config, port = intake
    config.token = "s3cret"
    assert request(port, "POST", "/v1/events", BODY)[0] == 401
    assert request(port, "POST", "/v1/events", BODY, {"Authorization": "Bearer nope"})[0] == 403
    assert request(port, "POST", "/v1/events", BODY, {"Authorization": "Bearer s3cret"})[0] == 202
    assert len(os.listdir(config.spool.incoming)) == 1


def test_hmac_signature(intake) -> None:
    config, port = intake
    config.hmac_secret = "k3y"
    good = "sha256=" + hmac.new(b"k3y", BODY, hashlib.sha256).hexdigest()
    bad = "sha256=" + hmac.new(b"other", BODY, hashlib.sha256).hexdigest()
    assert request(port, "POST", "/v1/events", BODY)[0] == 401
    assert request(port, "POST", "/v1/events", BODY, {"X-Signature-256": bad})[0] == 403
    assert request(port, "POST", "/v1/events", BODY + b" ", {"X-Signature-256": good})[0] == 403  # body changed
    assert request(port, "POST", "/v1/events", BODY, {"X-Signature-256": good})[0] == 202


def test_oversized_missing_and_misrouted_bodies(intake) -> None:
    config, port = intake
    assert request(port, "POST", "/v1/events", b"x" * 5000)[0] == 413
    assert request(port, "POST", "/v1/events", b"")[0] == 400
    assert request(port, "POST", "/api/v2/alerts", BODY)[0] == 404
    # a Content-Length far over the limit is refused without reading the body
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.putrequest("POST", "/v1/events")
    conn.putheader("Content-Length", str(100 * 1024 * 1024))
    conn.endheaders()
    assert conn.getresponse().status == 413
    conn.close()
    assert os.listdir(config.spool.incoming) == []


def test_metrics_and_healthz(intake) -> None:
    config, port = intake
    request(port, "POST", "/v1/events", BODY)
    config.metrics.decisions.labels("CRITICAL").inc()
    config.metrics.events.labels("decided").inc()
    config.metrics.actions.labels("log", "ok").inc()
    config.metrics.decision_latency.observe(0.004)
    status, text = request(port, "GET", "/metrics")
    assert status == 200
    for line in ('escalation_queue_depth 1.0', 'escalation_decisions_total{severity="CRITICAL"} 1.0',
                 'escalation_events_total{outcome="decided"} 1.0',
                 'escalation_actions_total{action="log",outcome="ok"} 1.0',
                 'escalation_decision_seconds_bucket{le="0.005"} 1.0',
                 'escalation_http_requests_total{status="202"} 1.0'):
        assert line in text.decode(), line
    status, body = request(port, "GET", "/healthz")
    assert status == 200 and json.loads(body)["status"] == "ok"
    config.health.db_writable = False
    status, body = request(port, "GET", "/healthz")
    assert status == 503 and json.loads(body)["db_writable"] is False
    config.health.db_writable = True
    config.health.heartbeat -= 3600  # the loop stopped beating
    assert request(port, "GET", "/healthz")[0] == 503


def test_daemon_with_listen_decides_a_posted_alert(tmp_path: Path, rules_copy: Path) -> None:
    """End to end through the real `rules run --listen`: POST → spool → decision."""
    import socket
    import sqlite3

    from daemon_kit import start, wait_for

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    db = tmp_path / "a.db"
    proc = start(["run", "--rules", str(rules_copy), "--db", str(db), "--spool", str(tmp_path / "spool"),
                  "--listen", f"127.0.0.1:{port}", "--interval", "0.05"], tmp_path / "log")
    try:
        assert wait_for(lambda: _ok(port), 30), (tmp_path / "log").read_text()
        alert = (Path(__file__).resolve().parents[2] / "sample-events" / "formats" / "alertmanager-firing.json")
        assert request(port, "POST", "/v1/events", alert.read_bytes())[0] == 202

        def decided() -> bool:
            with sqlite3.connect(db) as conn:
                return conn.execute("SELECT count(*) FROM decisions").fetchone()[0] >= 1
        assert wait_for(decided, 15)
        assert b'escalation_events_total{outcome="decided"} 1.0' in request(port, "GET", "/metrics")[1]
    finally:
        proc.terminate()
        assert proc.wait(timeout=20) == 0


def _ok(port: int) -> bool:
    try:
        return request(port, "GET", "/healthz")[0] == 200
    except OSError:
        return False


def test_a_stalled_or_idle_client_is_cut_off_after_the_timeout(tmp_path: Path) -> None:
    """Before, the handler had no timeout: an unauthenticated client that sent a Content-Length and then
    nothing (or nothing at all) held a server thread for ever; a few thousand of them exhaust the process."""
    spool = Spool(tmp_path / "spool")
    spool.ensure()
    config = IntakeConfig(spool=spool, metrics=Metrics(), health=Health(), token="s3cret", timeout=0.5)
    server = serve(config, "127.0.0.1", 0)
    try:
        stalled = socket.create_connection(("127.0.0.1", server.server_port), timeout=5)
        stalled.sendall(b"POST /v1/events HTTP/1.1\r\nContent-Length: 1000\r\n\r\n{")
        idle = socket.create_connection(("127.0.0.1", server.server_port), timeout=5)
        started = time.monotonic()
        assert stalled.recv(64).startswith(b"HTTP/1.0 408 ")
        assert idle.recv(64) == b""  # closed without a request
        assert time.monotonic() - started < 4
        trickle = socket.create_connection(("127.0.0.1", server.server_port), timeout=5)
        trickle.sendall(b"POST /v1/events HTTP/1.1\r\nContent-Length: 1000\r\n\r\n")
        for _ in range(20):  # a byte every 0.1 s never trips the per-read timeout, but the body deadline
            try:
                trickle.sendall(b" ")
            except OSError:
                break
            time.sleep(0.1)
        answer = trickle.recv(64)
        assert answer.startswith(b"HTTP/1.0 408 ")
        assert os.listdir(spool.incoming) == []
        for s in (stalled, idle, trickle):
            s.close()
    finally:
        server.shutdown()
        server.server_close()


def post_once_a_slot_is_free(port: int, deadline: float) -> int:
    """POST until the server takes it. Until the freed slot is back the server answers 503 and closes at
    once, so the client may also find the connection gone while it is still sending (a broken pipe or a
    reset): that is the same refusal, and is retried like a 503."""
    while True:
        try:
            status, _ = request(port, "POST", "/v1/events", BODY)
        except (BrokenPipeError, ConnectionResetError):
            status = 503
        if status != 503:
            return status
        assert time.monotonic() < deadline, "no connection slot came back"
        time.sleep(0.02)


def test_connections_beyond_the_cap_get_503_without_a_thread(tmp_path: Path) -> None:
    """Held connections (each up to the timeout) are capped: one more is refused at once, and a slot
    is free again as soon as a held connection ends."""
    spool = Spool(tmp_path / "spool")
    spool.ensure()
    metrics = Metrics()
    config = IntakeConfig(spool=spool, metrics=metrics, health=Health(), timeout=5, max_connections=3)
    server = serve(config, "127.0.0.1", 0)
    try:
        held = [socket.create_connection(("127.0.0.1", server.server_port), timeout=5) for _ in range(3)]
        for s in held:  # each one is being served: a request line sent, the headers never finished
            s.sendall(b"POST /v1/events HTTP/1.1\r\n")
        # the server accepts in arrival order (the listen queue is FIFO): the three hold every slot by now
        extra = socket.create_connection(("127.0.0.1", server.server_port), timeout=5)
        assert extra.recv(64).startswith(b"HTTP/1.1 503 ")
        extra.close()
        assert b'escalation_http_requests_total{status="503"} 1.0' in metrics.render()
        held.pop().close()  # its thread ends: the slot comes back
        status = post_once_a_slot_is_free(server.server_port, deadline=time.monotonic() + 10)
        assert status == 202 and len(os.listdir(spool.incoming)) == 1
        for s in held:
            s.close()
    finally:
        server.shutdown()
        server.server_close()


def test_a_client_hanging_up_mid_request_is_one_log_line_not_a_traceback(tmp_path: Path, capfd, caplog) -> None:
    spool = Spool(tmp_path / "spool")
    spool.ensure()
    server = serve(IntakeConfig(spool=spool, metrics=Metrics(), health=Health(), timeout=5), "127.0.0.1", 0)
    try:
        with caplog.at_level("INFO", logger="escalation_handlers.http"):
            gone = socket.create_connection(("127.0.0.1", server.server_port), timeout=5)
            gone.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            gone.sendall(b"POST /v1/events HTTP/1.1\r\nContent-Length: 100\r\n\r\n{")
            gone.close()  # linger 0: a reset, the handler's read or write fails
            deadline = time.monotonic() + 5
            while not any(getattr(r, "event", "") in ("http-client-gone", "http-error") for r in caplog.records):
                assert time.monotonic() < deadline, caplog.records
                time.sleep(0.05)
        events = [r.event for r in caplog.records if r.event in ("http-client-gone", "http-error")]
        assert events == ["http-client-gone"]
        assert "Traceback" not in capfd.readouterr().err
    finally:
        server.shutdown()
        server.server_close()
