"""Structured logs for the daemon: one JSON object per line on stderr.

Each line has ``ts``, ``level``, ``logger``, ``msg``, plus every field passed with
``logger.info(msg, extra={...})``. ``rules run`` installs it; other commands keep plain text.

**No secret reaches a line**, whoever logs it (our code, httpx's request lines with a webhook URL,
botocore's DEBUG dump of signed headers): the formatted line is redacted last, against the value of
every environment variable whose name says it is a secret (:data:`SECRET_NAME`: ``*_KEY``,
``*_TOKEN``, ``*_SECRET``, ``*_PASSWORD``, ``*_WEBHOOK_URL``...), in every form
:func:`actions.transport.secret_forms` knows (URL parts, JSON- and percent-escaped) and base64.
httpx and httpcore log below WARNING only under ``LOG_LEVEL=DEBUG`` (one line per request otherwise).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|PASSPHRASE|CREDENTIAL|WEBHOOK|SIGNATURE|AUTH",
                         re.IGNORECASE)
MIN_SECRET = 8  # shorter values would redact ordinary words

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def secrets_in(env: Mapping[str, str]) -> list[str]:
    """Values of the variables whose names mark them as secrets."""
    return [v for k, v in env.items() if SECRET_NAME.search(k) and len(v) >= MIN_SECRET]


def forms_of(secrets: Iterable[str]) -> list[str]:
    """Every form of every secret to replace, longest first (a whole URL before its parts)."""
    forms: set[str] = set()
    for secret in secrets:
        from actions.transport import secret_forms  # only with a secret set: httpx and ssl cost ~20 ms a start

        forms |= secret_forms(secret)
        encoded = base64.b64encode(secret.encode()).decode()
        forms |= {encoded, encoded.rstrip("=")}
    return sorted((f for f in forms if len(f) >= MIN_SECRET), key=len, reverse=True)


class RedactingFormatter(logging.Formatter):
    """``inner``'s line with every form of every secret replaced by ``[redacted]``."""

    def __init__(self, inner: logging.Formatter, secrets: Iterable[str]) -> None:
        super().__init__()
        self.inner = inner
        self.forms = forms_of(secrets)

    def format(self, record: logging.LogRecord) -> str:
        line = self.inner.format(record)
        for form in self.forms:
            if form in line:
                from actions.transport import REDACTED  # imported already: forms_of found a secret

                line = line.replace(form, REDACTED)
        return line


def install(level: str = "INFO", env: Mapping[str, str] | None = None, *, plain: bool = False,
            stream: TextIO | None = None) -> logging.Handler:
    """Route every logger through one handler on stderr (JSON lines, or the bare message with ``plain``),
    redacting the secrets of ``env`` (default ``os.environ``); returns the handler. ``plain`` leaves a root
    logger that already has handlers alone (as ``logging.basicConfig`` does: an embedding program's own)."""
    root = logging.getLogger()
    chatty = logging.DEBUG if str(level).upper() == "DEBUG" else logging.WARNING
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(chatty)
    if plain and root.handlers:
        return root.handlers[0]
    handler = logging.StreamHandler(stream or sys.stderr)
    inner = logging.Formatter("%(message)s") if plain else JsonFormatter()
    handler.setFormatter(RedactingFormatter(inner, secrets_in(os.environ if env is None else env)))
    root.handlers[:] = [handler]
    root.setLevel(level)
    return handler
