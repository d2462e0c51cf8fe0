"""email adapter against a real local SMTP server (aiosmtpd) and a real HTTP server (SendGrid)."""

from __future__ import annotations

import email
import json
import socket
from collections.abc import Iterator
from email import policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from pytest_httpserver import HTTPServer

from actions.base import ActionFailed, Intent
from actions.email import ADDRESS, Email
from actions.retry import RetryPolicy, execute

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "vendor"
SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "actions" / "email.schema.json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Collector:
    """aiosmtpd handler: keeps envelopes; RCPT/DATA replies scripted per test."""

    def __init__(self) -> None:
        self.envelopes: list[Any] = []
        self.rcpt_replies: dict[str, str] = {}
        self.data_replies: list[str] = []

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        reply = self.rcpt_replies.get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_replies:
            return self.data_replies.pop(0)
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data == LoginPassword(b"alerts", b"right")
    return AuthResult(success=ok, handled=False)  # handled=False: the server answers 535 itself


@pytest.fixture
def smtp() -> Iterator[tuple[Collector, int]]:
    handler, port = Collector(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, authenticator=authenticator,
                            auth_require_tls=False)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def smtp_env(port: int, **extra: str) -> dict[str, str]:
    env = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port), "SMTP_STARTTLS": "false",
           "EMAIL_FROM": "Incident Bot <alerts@example.com>"}
    env.update(extra)
    return env


def intent(**overrides: Any) -> Intent:
    fields: dict[str, Any] = dict(
        action="email", kind="notify", incident_id="INC-7", event_id="ev-7", severity="MAJOR",
        service="payment-api", targets=("alice@example.com",),
        message={"subject": "MAJOR: payment-api latency", "text": "p99 2400 ms",
                 "html": "<b>p99 2400 ms</b>"},
    )
    fields.update(overrides)
    return Intent(**fields)


def test_smtp_sends_multipart_alternative_to_targets_and_lists(smtp: tuple[Collector, int]) -> None:
    handler, port = smtp
    adapter = Email({"to": ["oncall-leads@example.com", "ALICE@example.com"]}, smtp_env(port))
    assert adapter.configured() is None
    outcome = adapter.send(adapter.render(intent()))
    assert outcome.status == "ok"
    [envelope] = handler.envelopes
    assert envelope.mail_from == "alerts@example.com"
    assert envelope.rcpt_tos == ["alice@example.com", "oncall-leads@example.com"]  # deduplicated
    msg = email.message_from_bytes(envelope.content, policy=policy.default)
    assert msg["Subject"] == "MAJOR: payment-api latency"
    assert msg["From"] == "Incident Bot <alerts@example.com>"
    assert msg.get_content_type() == "multipart/alternative"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]  # plainest first (RFC 2046)
    assert parts[0].get_content().strip() == "p99 2400 ms"
    assert parts[1].get_content().strip() == "<b>p99 2400 ms</b>"
    assert msg["Message-ID"] == adapter.render(intent()).body["message_id"]


def test_message_id_is_stable_and_html_defaults_to_escaped_text(smtp: tuple[Collector, int]) -> None:
    adapter = Email({}, smtp_env(smtp[1]))
    plain = intent(message={"text": "a < b"})
    assert adapter.render(plain) == adapter.render(plain)
    body = adapter.render(plain).body
    assert body["html"] == "<pre>a &lt; b</pre>"
    assert body["subject"] == "[MAJOR] payment-api: incident INC-7"
    assert body["message_id"] != adapter.render(intent(step=1)).body["message_id"]


def test_login_with_credentials(smtp: tuple[Collector, int]) -> None:
    handler, port = smtp
    adapter = Email({}, smtp_env(port, SMTP_USERNAME="alerts", SMTP_PASSWORD="right"))
    adapter.send(adapter.render(intent()))
    assert len(handler.envelopes) == 1


def test_wrong_password_is_a_permanent_auth_error(smtp: tuple[Collector, int]) -> None:
    handler, port = smtp
    adapter = Email({}, smtp_env(port, SMTP_USERNAME="alerts", SMTP_PASSWORD="wrong-pw"))
    with pytest.raises(ActionFailed) as info:
        adapter.send(adapter.render(intent()))
    assert info.value.reason == "authError" and not info.value.retryable and info.value.status == 535
    assert "wrong-pw" not in str(info.value)
    assert handler.envelopes == []


def test_connection_refused_is_retryable() -> None:
    adapter = Email({"timeout": 2}, smtp_env(free_port()))
    with pytest.raises(ActionFailed) as info:
        adapter.send(adapter.render(intent()))
    assert info.value.retryable and info.value.reason == "connectError"


def test_starttls_missing_on_server_is_not_retried(smtp: tuple[Collector, int]) -> None:
    adapter = Email({}, smtp_env(smtp[1], SMTP_STARTTLS="true"))
    with pytest.raises(ActionFailed) as info:
        adapter.send(adapter.render(intent()))
    assert not info.value.retryable and smtp[0].envelopes == []


def test_transient_4xx_is_retried_once_and_delivered_once(smtp: tuple[Collector, int]) -> None:
    handler, port = smtp
    handler.data_replies = ["451 4.3.0 try again later"]
    adapter = Email({}, smtp_env(port))
    slept: list[float] = []
    run = execute(adapter, adapter.render(intent()), RetryPolicy(base_delay=0.01), sleep=slept.append)
    assert run.ok and len(run.attempts) == 2 and len(slept) == 1
    assert run.attempts[0].reason == "serverError" and run.attempts[0].status == 451
    assert len(handler.envelopes) == 1


def test_permanent_5xx_recipient_refusal_is_not_retried(smtp: tuple[Collector, int]) -> None:
    handler, port = smtp
    handler.rcpt_replies = {"alice@example.com": "550 5.1.1 no such user"}
    adapter = Email({}, smtp_env(port))
    run = execute(adapter, adapter.render(intent()), sleep=lambda s: None)
    assert not run.ok and len(run.attempts) == 1
    assert run.attempts[0].reason == "clientError" and run.attempts[0].status == 550
    assert handler.envelopes == []


def test_partial_refusal_delivers_to_the_rest_and_reports_it(smtp: tuple[Collector, int]) -> None:
    handler, port = smtp
    handler.rcpt_replies = {"gone@example.com": "550 5.1.1 no such user"}
    adapter = Email({"to": ["gone@example.com"]}, smtp_env(port))
    outcome = adapter.send(adapter.render(intent()))
    assert outcome.response == {"refused": ["gone@example.com"]}
    assert handler.envelopes[0].rcpt_tos == ["alice@example.com"]


@pytest.mark.parametrize(
    "overrides",
    [
        {"targets": ("alice@example.com\r\nBcc: victim@example.com",)},
        {"targets": ("alice@example.com, victim@example.com",)},
        {"targets": ("not-an-address",)},
        {"targets": ()},
    ],
)
def test_header_injection_and_bad_recipients_are_rejected_before_sending(
    smtp: tuple[Collector, int], overrides: dict[str, Any]
) -> None:
    adapter = Email({}, smtp_env(smtp[1]))
    with pytest.raises(ActionFailed) as info:
        adapter.send(adapter.render(intent(**overrides)))
    assert info.value.reason == "clientError" and not info.value.retryable
    assert smtp[0].envelopes == []


def test_unconfigured_names_the_variable() -> None:
    assert Email({}, {"EMAIL_FROM": "a@example.com"}).configured() == "SMTP_HOST is not set"
    assert Email({}, {"SMTP_HOST": "h"}).configured() == "EMAIL_FROM is not set"
    env = {"SMTP_HOST": "h", "EMAIL_FROM": "a@example.com", "SMTP_USERNAME": "u"}
    assert Email({}, env).configured() == "SMTP_PASSWORD is not set"
    adapter = Email({"transport": "sendgrid"}, {"EMAIL_FROM": "a@example.com"})
    assert adapter.configured() == "SENDGRID_API_KEY is not set"
    with pytest.raises(ActionFailed) as info:
        adapter.send(adapter.render(intent()))
    assert info.value.reason == "authError"


def test_schema_address_pattern_is_the_adapters() -> None:
    schema = json.loads(SCHEMA.read_text())
    assert schema["properties"]["to"]["items"]["pattern"] == ADDRESS.pattern


# --- SendGrid -------------------------------------------------------------------------------


def sendgrid(httpserver: HTTPServer) -> Email:
    env = {"SENDGRID_API_KEY": "SG.secret-key", "SENDGRID_API_URL": httpserver.url_for("/"),
           "EMAIL_FROM": "Example From Name <test+from@example.com>"}
    return Email({"transport": "sendgrid"}, env)


def test_sendgrid_posts_the_fixture_body(httpserver: HTTPServer) -> None:
    fixture = json.loads((FIXTURES / "sendgrid_mail_send_text_and_html.json").read_text())
    fixture["personalizations"][0]["to"][0].pop("name")  # the adapter sends bare addresses
    httpserver.expect_oneshot_request(
        "/v3/mail/send", method="POST", json=fixture, headers={"Authorization": "Bearer SG.secret-key"}
    ).respond_with_data("", status=202)
    adapter = sendgrid(httpserver)
    sent = intent(
        targets=("test+to@example.com",),
        message={"subject": fixture["subject"], "text": fixture["content"][0]["value"],
                 "html": fixture["content"][1]["value"]},
    )
    request = adapter.render(sent)
    rendered = json.dumps(request.body) + request.target + json.dumps(dict(request.headers))
    assert "SG.secret-key" not in rendered
    outcome = adapter.send(request)
    httpserver.check_assertions()
    assert outcome.status == "accepted" and len(httpserver.log) == 1


def test_sendgrid_429_waits_for_the_rate_limit_reset(httpserver: HTTPServer) -> None:
    too_many = (FIXTURES / "sendgrid_error_429_docs.json").read_text()
    httpserver.expect_ordered_request("/v3/mail/send").respond_with_data(
        too_many, status=429, headers={"X-RateLimit-Reset": "4102444800"}  # 2100-01-01
    )
    httpserver.expect_ordered_request("/v3/mail/send").respond_with_data("", status=202)
    adapter = sendgrid(httpserver)
    slept: list[float] = []
    policy_ = RetryPolicy(max_retry_after=60.0)
    run = execute(adapter, adapter.render(intent()), policy_, sleep=slept.append)
    assert run.ok and [a.reason for a in run.attempts] == ["rateLimited", None]
    assert slept == [60.0]  # capped by the policy, but taken from the header
    assert len(httpserver.log) == 2


def test_sendgrid_400_is_permanent_and_keeps_the_error_text(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v3/mail/send").respond_with_data(
        (FIXTURES / "sendgrid_error_400_docs.json").read_text(), status=400
    )
    adapter = sendgrid(httpserver)
    run = execute(adapter, adapter.render(intent()), sleep=lambda s: None)
    assert not run.ok and len(run.attempts) == 1 and len(httpserver.log) == 1
    assert run.attempts[0].reason == "clientError" and "error message explained" in run.attempts[0].detail
    assert "SG.secret-key" not in run.attempts[0].detail


def test_sendgrid_401_is_an_auth_error(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v3/mail/send").respond_with_json(
        {"errors": [{"field": None, "message": "authorization required"}]}, status=401
    )
    adapter = sendgrid(httpserver)
    with pytest.raises(ActionFailed) as info:
        adapter.send(adapter.render(intent()))
    assert info.value.reason == "authError" and not info.value.retryable
    assert info.value.__cause__ is None and info.value.__context__ is None  # httpx chain holds the key


def test_sendgrid_error_echoing_the_api_key_is_redacted(httpserver: HTTPServer) -> None:
    """Before, the SendGrid path kept the error body verbatim: an echoed Authorization header reached the audit log."""
    httpserver.expect_request("/v3/mail/send").respond_with_json(
        {"errors": [{"message": "invalid header: Authorization: Bearer SG.secret-key"}]}, status=400
    )
    adapter = sendgrid(httpserver)
    run = execute(adapter, adapter.render(intent()), sleep=lambda s: None)
    assert not run.ok and "invalid header" in run.attempts[0].detail
    assert "SG.secret-key" not in run.attempts[0].detail and "[redacted]" in run.attempts[0].detail


# --- subject line breaks, implicit TLS ------------------------------------------------------------


@pytest.mark.parametrize("brk", ["\r\n", "\n", "\r", "\u2028", "\x85", "\x0b", "\x1c"])
def test_line_breaks_in_the_subject_are_folded_and_the_mail_is_delivered(
    smtp: tuple[Collector, int], brk: str
) -> None:
    """Before, CR/LF rejected the whole email (an event title with a newline lost its notification),
    and U+2028, NEL, VT... passed render and then raised an unclassified ValueError in send."""
    handler, port = smtp
    adapter = Email({}, smtp_env(port))
    subject = f"disk full{brk}Bcc: victim@example.com"
    outcome = adapter.send(adapter.render(intent(message={"subject": subject, "text": "x"})))
    assert outcome.status == "ok"
    [envelope] = handler.envelopes
    assert envelope.rcpt_tos == ["alice@example.com"]
    parsed = email.message_from_bytes(envelope.original_content, policy=policy.default)
    assert parsed["Subject"] == "disk full Bcc: victim@example.com"
    assert parsed["Bcc"] is None


def test_non_ascii_subject_is_encoded(smtp: tuple[Collector, int]) -> None:
    handler, port = smtp
    adapter = Email({}, smtp_env(port))
    adapter.send(adapter.render(intent(message={"subject": "Störung: Zahlungsdienst ✗ " + "é" * 90, "text": "x"})))
    raw = handler.envelopes[0].original_content
    assert raw.isascii() and b"=?utf-8?" in raw
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert parsed["Subject"] == "Störung: Zahlungsdienst ✗ " + "é" * 90


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


@pytest.fixture
def smtps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Collector, Path]]:
    """An implicit-TLS (port 465 style) server with a self-signed certificate; the adapter's
    port-465 connection is redirected to it (binding 465 needs privileges)."""
    import smtplib
    import ssl

    cert_file, key_file = _self_signed(tmp_path)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert_file, key_file)
    handler, port = Collector(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, ssl_context=server_context,
                            authenticator=authenticator, auth_require_tls=False)
    controller.start()
    real = smtplib.SMTP_SSL
    monkeypatch.setattr(smtplib, "SMTP_SSL", lambda host, _port, **kw: real(host, port, **kw))
    try:
        yield handler, cert_file
    finally:
        controller.stop()


def test_implicit_tls_verifies_the_server_certificate(smtps: tuple[Collector, Path]) -> None:
    """Before, port 465 used smtplib.SMTP_SSL's default context (no certificate or host name check):
    the password went to whoever answered."""
    handler, _ = smtps
    adapter = Email({}, smtp_env(465, SMTP_USERNAME="alerts", SMTP_PASSWORD="right"))
    with pytest.raises(ActionFailed) as info:
        adapter.send(adapter.render(intent()))
    assert info.value.reason == "connectError" and not info.value.retryable
    assert "CERTIFICATE_VERIFY_FAILED" in str(info.value)
    assert handler.envelopes == []


def test_implicit_tls_delivers_when_the_certificate_is_trusted(
    smtps: tuple[Collector, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    handler, cert_file = smtps
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))
    adapter = Email({}, smtp_env(465, SMTP_USERNAME="alerts", SMTP_PASSWORD="right"))
    assert adapter.send(adapter.render(intent())).status == "ok"
    assert len(handler.envelopes) == 1
