"""``email``: send a MIME ``multipart/alternative`` message (text, then HTML) over SMTP or SendGrid.

Takes an :class:`Intent` and sends one message to every recipient; returns ``ok`` (SMTP) or
``accepted`` (SendGrid 202). Header injection is impossible by construction: every line break in
the subject (CR, LF and the other characters ``str.splitlines`` breaks on, such as U+2028, NEL or
VT, which Python's email package refuses in a header) and every other control character becomes
one space, so an event title with a newline still gets its email, on one line; a CR or LF in an
address, or an address that is not ``local@domain``, rejects the intent in ``render``
(``clientError``, not retried).

Config (``schemas/actions/email.schema.json``):
    ``transport``  ``smtp`` (default) or ``sendgrid``
    ``to``         list of addresses always added (distribution lists)
    ``timeout``    seconds per attempt (default 20)

Env: ``EMAIL_FROM`` (``addr`` or ``Name <addr>``, required); SMTP: ``SMTP_HOST`` (required),
``SMTP_PORT`` (587; 465 means implicit TLS), ``SMTP_STARTTLS`` (``true``), ``SMTP_USERNAME`` and
``SMTP_PASSWORD`` (secret; login only when a username is set); SendGrid: ``SENDGRID_API_KEY``
(secret), ``SENDGRID_API_URL`` (``https://api.sendgrid.com``; the EU one is api.eu.sendgrid.com).

Intent: recipients are ``intent.targets`` (addresses) then config ``to``, deduplicated;
``message`` keys ``subject`` (default ``"[SEVERITY] service: incident ID"``), ``text`` and
``html`` (default: the text, escaped, in ``<pre>``). The SMTP ``Message-ID`` derives from the
intent's idempotency key, so a receiving server can drop a duplicate.

Failures: SMTP auth (535, 530, 534) ``authError``; connection refused, disconnects and timeouts
retryable; other SMTP 4xx replies retryable, 5xx permanent ``clientError``. SendGrid: shared HTTP
classification; a 429 without ``Retry-After`` waits until ``X-RateLimit-Reset``.
"""

from __future__ import annotations

import hashlib
import html
import re
import smtplib
import ssl
import time
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import Any, ClassVar

from actions.base import ActionFailed, Intent, Outcome, Request
from actions.transport import post_scrubbed

SUBJECT_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")  # controls and every str.splitlines break
ADDRESS = re.compile(r'^[^@\s<>,;:"()\[\]\\]{1,64}@[A-Za-z0-9.-]{1,253}$')  # schema "to" uses the same
AUTH_CODES = (530, 534, 535, 538)


def _reject(why: str) -> ActionFailed:
    return ActionFailed(f"email: {why}", retryable=False, reason="clientError")


def _one_line(text: str) -> str:
    """``text`` as one header line: runs of line breaks and control characters become one space."""
    return SUBJECT_BREAKS.sub(" ", text).strip()


def _address(value: str) -> str:
    if "\r" in value or "\n" in value or not ADDRESS.fullmatch(value.strip()):
        raise _reject(f"invalid email address {value[:80]!r}")
    return value.strip()


class Email:
    name: ClassVar[str] = "email"
    schema: ClassVar[str] = "actions/email.schema.json"
    env_vars: ClassVar[tuple[str, ...]] = (
        "EMAIL_FROM", "SMTP_HOST", "SMTP_PORT", "SMTP_USERNAME", "SMTP_PASSWORD", "SMTP_STARTTLS",
        "SENDGRID_API_KEY", "SENDGRID_API_URL",
    )

    def __init__(self, config: Mapping[str, Any], env: Mapping[str, str]) -> None:
        self.transport = str(config.get("transport", "smtp"))
        self.to = [str(x) for x in config.get("to", ())]
        self.timeout = float(config.get("timeout", 20))
        self.env = env
        self.sender = env.get("EMAIL_FROM", "")
        self.host = env.get("SMTP_HOST", "")
        self.port = int(env.get("SMTP_PORT") or 587)
        self.starttls = env.get("SMTP_STARTTLS", "true").strip().lower() not in ("0", "false", "no", "off")
        self.api_url = env.get("SENDGRID_API_URL", "https://api.sendgrid.com").rstrip("/")

    def configured(self) -> str | None:
        needed = ["EMAIL_FROM"] + (["SENDGRID_API_KEY"] if self.transport == "sendgrid" else ["SMTP_HOST"])
        if self.transport == "smtp" and self.env.get("SMTP_USERNAME"):
            needed.append("SMTP_PASSWORD")
        missing = [name for name in needed if not self.env.get(name)]
        return f"{missing[0]} is not set" if missing else None

    def render(self, intent: Intent) -> Request:
        message = intent.message
        default_subject = f"[{intent.severity}] {intent.service}: incident {intent.incident_id}"
        subject = _one_line(str(message.get("subject") or "")) or _one_line(default_subject)
        recipients: list[str] = []
        for value in [*intent.targets, *self.to]:
            address = _address(value)
            if address.lower() not in (r.lower() for r in recipients):
                recipients.append(address)
        if not recipients:
            raise _reject("no recipients (intent.targets and config 'to' are empty)")
        if "\r" in self.sender or "\n" in self.sender:
            raise _reject("CR/LF in EMAIL_FROM")
        sender_name, sender = parseaddr(self.sender)
        if self.sender:
            _address(sender or self.sender)
        text = str(message.get("text") or subject)
        body_html = str(message.get("html") or f"<pre>{html.escape(text)}</pre>")
        key = hashlib.sha256(intent.idempotency_key.encode()).hexdigest()[:32]
        if self.transport == "sendgrid":
            body: dict[str, Any] = {
                "personalizations": [{"to": [{"email": r} for r in recipients]}],
                "from": {"email": sender, "name": sender_name} if sender_name else {"email": sender},
                "subject": subject,
                "content": [{"type": "text/plain", "value": text}, {"type": "text/html", "value": body_html}],
            }
            return Request(self.name, "POST", f"{self.api_url}/v3/mail/send", body, intent.idempotency_key)
        body = {"from": self.sender, "to": recipients, "subject": subject, "text": text, "html": body_html,
                "message_id": f"<{key}@escalation-handlers>"}
        return Request(self.name, "SMTP", f"smtp://{self.host}:{self.port}", body, intent.idempotency_key)

    def send(self, request: Request) -> Outcome:
        problem = self.configured()
        if problem:
            raise ActionFailed(f"email: {problem}", retryable=False, reason="authError")
        if request.method == "POST":
            return self._sendgrid(request)
        return self._smtp(request)

    def _smtp(self, request: Request) -> Outcome:
        body = request.body
        msg = EmailMessage()
        msg["From"] = body["from"]
        msg["To"] = ", ".join(body["to"])
        msg["Subject"] = body["subject"]
        msg["Date"] = formatdate(localtime=False)
        msg["Message-ID"] = body["message_id"]
        msg.set_content(body["text"])
        msg.add_alternative(body["html"], subtype="html")
        where = f"SMTP {self.host}:{self.port}"
        try:
            refused = self._deliver(msg, parseaddr(body["from"])[1], list(body["to"]))
        except (smtplib.SMTPException, OSError) as exc:
            raise _smtp_failure(where, exc) from None
        detail = f"{where} accepted for {len(body['to']) - len(refused)} recipient(s)"
        if refused:
            detail += f"; refused: {', '.join(sorted(refused))}"
        return Outcome("ok", detail=detail, response={"refused": sorted(refused)})

    def _deliver(self, msg: EmailMessage, sender: str, recipients: list[str]) -> dict[str, Any]:
        context = ssl.create_default_context()  # verifies the certificate and the host name
        if self.port == 465:  # implicit TLS: smtplib.SMTP_SSL's own default context verifies nothing
            connection: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            connection = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with connection as smtp:
            if self.starttls and self.port != 465:
                smtp.starttls(context=context)
            if self.env.get("SMTP_USERNAME"):
                smtp.login(self.env["SMTP_USERNAME"], self.env.get("SMTP_PASSWORD", ""))
            return smtp.send_message(msg, sender, recipients)

    def _sendgrid(self, request: Request) -> Outcome:
        import httpx

        responses: list[httpx.Response] = []
        key = self.env["SENDGRID_API_KEY"]
        headers = {"Authorization": f"Bearer {key}"}
        try:
            with httpx.Client(timeout=self.timeout, event_hooks={"response": [responses.append]}) as client:
                response = post_scrubbed(client, request.target, request.body, "SendGrid", headers=headers,
                                         secrets=(key,))  # an error body may echo the key
        except ActionFailed as exc:  # already scrubbed, with no exception chain
            reset = responses[-1].headers.get("x-ratelimit-reset", "") if responses else ""
            if exc.status == 429 and exc.retry_after is None and reset.isascii() and reset.isdigit():
                # https://www.twilio.com/docs/sendgrid/api-reference/how-to-use-the-sendgrid-v3-api/rate-limits
                exc.retry_after = max(0.0, int(reset) - time.time())
            raise
        return Outcome("accepted", detail=f"SendGrid answered HTTP {response.status_code}")


def _smtp_failure(where: str, exc: Exception) -> ActionFailed:
    """Classify an smtplib or socket error. Reply codes (RFC 5321 §4.2.1): 4yz transient, 5yz permanent."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, text = min(exc.recipients.values())
        return _smtp_reply(f"{where} refused every recipient", code, text)
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return ActionFailed(f"{where}: login refused ({exc.smtp_code})", retryable=False, reason="authError",
                            status=exc.smtp_code)
    if isinstance(exc, smtplib.SMTPResponseException):
        return _smtp_reply(where, exc.smtp_code, exc.smtp_error)
    detail = f"{where}: {type(exc).__name__}: {exc}"
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return ActionFailed(detail, retryable=True, reason="connectError")
    if isinstance(exc, smtplib.SMTPException):  # no STARTTLS/AUTH support: configuration, not transient
        return ActionFailed(detail, retryable=False, reason="other")
    if isinstance(exc, TimeoutError):
        return ActionFailed(detail, retryable=True, reason="timeout")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return ActionFailed(detail, retryable=False, reason="connectError")
    return ActionFailed(detail, retryable=True, reason="connectError")  # refused, unreachable, DNS


def _smtp_reply(where: str, code: int, text: object) -> ActionFailed:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    message = f"{where}: {code} {str(text)[:300]}"
    if code in AUTH_CODES:
        return ActionFailed(message, retryable=False, reason="authError", status=code)
    if 400 <= code < 500:
        return ActionFailed(message, retryable=True, reason="serverError", status=code)
    return ActionFailed(message, retryable=False, reason="clientError", status=code)
