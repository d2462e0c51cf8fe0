"""HTTP plumbing shared by the HTTP adapters (``pagerduty``, ``opsgenie``, ``slack``, ``teams``) and ``email``'s
limits (``fit``, ``fit_key``, :class:`RateLimiter`).

* :class:`Http` holds one ``httpx.Client`` per adapter instance, created on first use, with
  explicit timeouts (connect 5 s; read, write and pool 10 s, or the adapter's ``timeout``) and no
  connection cap of its own (the daemon's lanes bound the sends in flight).
  Its ``post`` goes through :func:`actions.retry.post_json` (shared classification) and scrubs
  the given secrets out of every :class:`ActionFailed` it raises, dropping the httpx exception
  chain (whose request objects carry URLs and headers).
* :class:`RateLimiter` is a process-local sliding-window limiter keyed by credential, with an
  injectable clock.
* :func:`fit` and :func:`fit_key` shape values to a vendor's documented field limits.

It performs no retries: :func:`actions.retry.execute` does.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from actions.base import ActionFailed
from actions.retry import post_json

if TYPE_CHECKING:  # imported with the first client: loading an adapter (rules validate) does not need it
    import httpx

CONNECT_TIMEOUT = 5.0
TOTAL_TIMEOUT = 10.0
REDACTED = "[redacted]"
KEEPALIVE = 64  # idle connections kept per adapter instance
MIN_SECRET_PART = 16  # a webhook URL's path segment or query value this long is a token (Slack, Teams sig)


class Http:
    """One lazily created client for one adapter instance."""

    def __init__(self, vendor: str, timeout: float = TOTAL_TIMEOUT) -> None:
        self.vendor = vendor
        self.seconds = timeout
        self._client: httpx.Client | None = None

    @property
    def timeout(self) -> httpx.Timeout:
        import httpx

        return httpx.Timeout(self.seconds, connect=min(CONNECT_TIMEOUT, self.seconds))

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            import httpx

            # no connection cap of its own: the daemon's lanes bound the sends in flight (--send-per-adapter), and
            # httpx's default of 100 would make the 101st wait for a free connection until the pool timeout
            limits = httpx.Limits(max_connections=None, max_keepalive_connections=KEEPALIVE)
            self._client = httpx.Client(timeout=self.timeout, limits=limits)
        return self._client

    def post(
        self,
        url: str,
        body: object,
        *,
        headers: Mapping[str, str] | None = None,
        secrets: Iterable[str] = (),
    ) -> httpx.Response:
        """POST JSON once; non-2xx answers and transport errors raise a scrubbed :class:`ActionFailed`."""
        return post_scrubbed(self.client, url, body, self.vendor, headers=headers, secrets=secrets)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def post_scrubbed(
    client: httpx.Client,
    url: str,
    body: object,
    vendor: str,
    *,
    headers: Mapping[str, str] | None = None,
    secrets: Iterable[str] = (),
) -> httpx.Response:
    """:func:`actions.retry.post_json` whose failure names none of ``secrets`` (in any quoted form) and
    carries no exception chain: the httpx exception it came from holds the request's URL and headers."""
    try:
        return post_json(client, url, body, vendor, dict(headers or {}))
    except ActionFailed as exc:
        failure = scrub(exc, secrets)
    raise failure  # outside the handler: no __context__ leading back to the unscrubbed failure


def secret_forms(secret: str) -> set[str]:
    """Every way ``secret`` may come back in an error text: as is, JSON-escaped (also with ``\\/``),
    percent-encoded and, for a URL (a webhook: the whole URL is the secret), its long path segments,
    query values and password, each in the same forms. An error body that quotes the URL differently
    (a JSON encoder that escapes slashes, a proxy that decodes the query) still loses its token."""
    if not secret:
        return set()
    parts = {secret}
    if secret.startswith(("https://", "http://")):
        try:
            url = urlsplit(secret)
            parts.add(url.path)
            parts.update(s for s in url.path.split("/") if len(s) >= MIN_SECRET_PART)
            parts.update(v for _, v in parse_qsl(url.query) if len(v) >= MIN_SECRET_PART)
            parts.update(v for v in url.query.split("&") if len(v) >= MIN_SECRET_PART)
            if url.password:
                parts.add(url.password)
        except ValueError:  # not parseable as a URL: the whole text is still scrubbed
            pass
    forms: set[str] = set()
    for part in parts:
        if len(part) < 8:  # too short to be a credential on its own ("/", "/hooks")
            continue
        escaped = json.dumps(part)[1:-1]
        forms.update({part, escaped, escaped.replace("/", "\\/"), quote(part, safe=""), unquote(part)})
    return {secret} | {f for f in forms if len(f) >= 8}


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every form of every secret (:func:`secret_forms`) replaced by ``[redacted]``."""
    forms: set[str] = set()
    for secret in secrets:
        forms |= secret_forms(secret)
    for form in sorted(forms, key=len, reverse=True):  # the whole URL before its parts
        text = text.replace(form, REDACTED)
    return text


def scrub(exc: ActionFailed, secrets: Iterable[str]) -> ActionFailed:
    """The same failure with every secret replaced by ``[redacted]`` in its message (no exception chain)."""
    return ActionFailed(
        redact(str(exc), secrets), retryable=exc.retryable, reason=exc.reason, retry_after=exc.retry_after,
        status=exc.status,
    )


def fit(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, ending in an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def fit_key(key: str, limit: int) -> str:
    """A deduplication key of at most ``limit`` characters: unchanged when it fits, else its
    readable head plus the SHA-256 of the whole key (deterministic, and distinct keys stay distinct)."""
    if len(key) <= limit:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()
    return f"{key[: limit - len(digest) - 1]}:{digest}"


def step_key(incident_id: str, step: int, limit: int) -> str:
    """The dedup key / alias of one escalation step: the incident id for step 0, ``<id>.step-<n>`` after.

    A pager folds a trigger with an open alert's key into that alert (PagerDuty's ``dedup_key``,
    Opsgenie's ``alias``), so a later step with the same key would notify nobody new. The engine maps
    ``<id>.step-<n>`` back to the incident (``engine.run.acknowledge.match``)."""
    return fit_key(incident_id if step <= 0 else f"{incident_id}{STEP_SUFFIX}{step}", limit)


STEP_SUFFIX = ".step-"


class RateLimiter:
    """At most ``limit`` events per ``window`` seconds per key, counted in this process only."""

    def __init__(self, limit: int, window: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._sent: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str) -> float:
        """Count one event and return 0.0, or return how many seconds to wait (nothing counted)."""
        bucket = hashlib.sha256(key.encode()).hexdigest()  # keys are credentials: keep only a hash
        with self._lock:
            now = self.clock()
            sent = self._sent.setdefault(bucket, deque())
            while sent and sent[0] <= now - self.window:
                sent.popleft()
            if len(sent) >= self.limit:
                return max(sent[0] + self.window - now, 0.001)
            sent.append(now)
            return 0.0
