"""Every refused POST leaves a log line, a metric and an intake row; none of them carries the credentials."""

from __future__ import annotations

import http.client
import json
import logging

from daemon_kit import event

from engine.run.daemon.http import IntakeConfig, serve

BODY = json.dumps(event(1)).encode()


def post(port: int, body: bytes, headers: dict[str, str] | None = None) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", "/v1/events", body=body, headers=headers or {})
        return conn.getresponse().status
    finally:
        conn.close()


def test_401_403_413_are_logged_counted_and_recorded(make_daemon, caplog) -> None:
    daemon = make_daemon()
    config = IntakeConfig(spool=daemon.spool, metrics=daemon.metrics, health=daemon.health, max_bytes=4096,
                          token="s3cret-token", on_refused=daemon.refused)
    server = serve(config, "127.0.0.1", 0)
    try:
        with caplog.at_level(logging.WARNING, logger="escalation_handlers.http"):
            assert post(server.server_port, BODY) == 401
            assert post(server.server_port, BODY, {"Authorization": "Bearer wrong-token"}) == 403
            assert post(server.server_port, b"x" * 5000, {"Authorization": "Bearer s3cret-token"}) == 413
            assert post(server.server_port, BODY, {"Authorization": "Bearer s3cret-token"}) == 202
    finally:
        server.shutdown()
        server.server_close()
    refused = [r for r in caplog.records if getattr(r, "event", "") == "http-refused"]
    assert [r.status for r in refused] == [401, 403, 413]
    dumped = json.dumps([r.__dict__ for r in refused], default=str)
    assert "s3cret-token" not in dumped and "wrong-token" not in dumped
    text = daemon.metrics.render().decode()
    for status in (401, 403, 413):
        assert f'escalation_intake_refused_total{{status="{status}"}} 1.0' in text
    daemon.run_once()
    rows = daemon.audit.conn.execute("SELECT file, outcome, code, reason FROM intake WHERE outcome = 'refused' "
                                     "ORDER BY id").fetchall()
    assert [(o, c) for _, o, c, _ in rows] == [("refused", "http-401"), ("refused", "http-403"),
                                               ("refused", "http-413")]
    assert rows[0][0] == "http:127.0.0.1" and rows[2][3] == "body is 5000 bytes; the limit is 4096"
    assert daemon.audit.count("decisions") == 1  # the accepted one
