"""Canary secrets never reach a log line (ours or a library's, at DEBUG) nor an attempt's detail."""

from __future__ import annotations

import base64
import io
import logging
import socket
import threading
from collections.abc import Iterator

import pytest
from adapter_kit import make_intent
from pytest_httpserver import HTTPServer

from actions.base import ActionFailed, Intent
from actions.email import Email
from actions.scale_out import ScaleOut
from actions.slack import Slack
from engine.run.daemon import logs

CANARY = "canary-7Hq2ZpW9xK4m"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Everything every logger writes at DEBUG, through the handler `rules run` installs."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in ("httpx", "httpcore")}
    yield io.StringIO()
    root.handlers[:], _ = saved
    root.setLevel(saved[1])
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def test_a_webhook_url_in_httpx_request_lines_is_redacted(captured: io.StringIO, httpserver: HTTPServer) -> None:
    path = f"/services/T0000/B0000/{CANARY}"
    httpserver.expect_request(path, method="POST").respond_with_data("ok")
    env = {"SLACK_WEBHOOK_URL": httpserver.url_for(path)}
    logs.install("DEBUG", env, stream=captured)
    adapter = Slack({}, env)
    adapter.send(adapter.render(make_intent(action="slack", kind="notify", message={"text": "hello"})))
    out = captured.getvalue()
    assert "HTTP Request: POST" in out and "[redacted]" in out  # httpx logged the request line
    assert CANARY not in out


def test_a_session_token_in_botocore_debug_lines_is_redacted(captured: io.StringIO, httpserver: HTTPServer) -> None:
    error = ("<ErrorResponse><Error><Type>Sender</Type><Code>ValidationError</Code><Message>no such group"
             "</Message></Error><RequestId>r1</RequestId></ErrorResponse>")
    httpserver.expect_request("/").respond_with_data(error, status=400, content_type="text/xml")
    env = {"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": f"secret-{CANARY}",
           "AWS_SESSION_TOKEN": f"token-{CANARY}", "AWS_REGION": "us-east-1",
           "AWS_ENDPOINT_URL": httpserver.url_for("/")}
    logs.install("DEBUG", env, stream=captured)
    adapter = ScaleOut({"allow": ["payment-api"]}, env)
    with pytest.raises(ActionFailed):
        adapter.send(adapter.render(Intent(action="scale-out", kind="remediate", incident_id="I", event_id="e",
                                           severity="MAJOR", service="x", params={"asg": "payment-api"})))
    out = captured.getvalue()
    assert "botocore" in out and "[redacted]" in out  # botocore logged the signed request
    assert CANARY not in out


class EchoingSmtp(threading.Thread):
    """Accepts AUTH, then refuses MAIL FROM with a 451 that echoes the AUTH exchange (as a broken relay does)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]

    def run(self) -> None:
        conn, _ = self.sock.accept()
        with conn, conn.makefile("rb") as lines:
            conn.sendall(b"220 relay.test ESMTP\r\n")
            auth = b""
            for line in lines:
                verb = line.split(b" ", 1)[0].upper().strip()
                if verb == b"EHLO":
                    conn.sendall(b"250-relay.test\r\n250 AUTH PLAIN LOGIN\r\n")
                elif verb == b"AUTH":
                    auth = line.strip()
                    conn.sendall(b"235 2.7.0 ok\r\n")
                elif verb == b"MAIL":
                    plain = base64.b64decode(auth.split()[-1]).replace(b"\0", b" ")
                    conn.sendall(b"451 4.3.0 try later; session was: " + auth + b" (" + plain + b")\r\n")
                elif verb == b"QUIT":
                    conn.sendall(b"221 bye\r\n")
                    return
                else:
                    conn.sendall(b"250 ok\r\n")

    def stop(self) -> None:
        self.sock.close()


def test_an_smtp_reply_echoing_auth_keeps_the_password_out_of_the_detail(captured: io.StringIO) -> None:
    server = EchoingSmtp()
    server.start()
    password = f"pw-{CANARY}"
    env = {"EMAIL_FROM": "alerts@company.com", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(server.port),
           "SMTP_STARTTLS": "false", "SMTP_USERNAME": "alerts", "SMTP_PASSWORD": password}
    logs.install("DEBUG", env, stream=captured)
    adapter = Email({}, env)
    try:
        with pytest.raises(ActionFailed) as info:
            adapter.send(adapter.render(make_intent(action="email", kind="notify", targets=("a@company.com",),
                                                    message={"subject": "s", "text": "t"})))
    finally:
        server.join(10)
        server.stop()
    detail = str(info.value)  # what the executor records in attempts.detail
    assert "451" in detail and "session was: AUTH PLAIN [redacted]" in detail
    assert info.value.retryable
    encoded = base64.b64encode(f"\0alerts\0{password}".encode()).decode()
    for form in (password, CANARY, encoded, encoded.rstrip("=")):
        assert form not in detail
        assert form not in captured.getvalue()
