"""HTTP plumbing shared by the HTTP adapters (``pagerduty``, ``opsgenie``, ``slack``).

* :class:`Http` holds one ``httpx.Client`` per adapter instance, created on first use, with
  explicit timeouts (connect 5 s; read, write and pool 10 s, or the adapter's ``timeout``).
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
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping

import httpx

from actions.base import ActionFailed
from actions.retry import post_json

CONNECT_TIMEOUT = 5.0
TOTAL_TIMEOUT = 10.0
REDACTED = "[redacted]"


class Http:
    """One lazily created client for one adapter instance."""

    def __init__(self, vendor: str, timeout: float = TOTAL_TIMEOUT) -> None:
        self.vendor = vendor
        self.timeout = httpx.Timeout(timeout, connect=min(CONNECT_TIMEOUT, timeout))
        self._client: httpx.Client | None = None

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(timeout=self.timeout)
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
        try:
            return post_json(self.client, url, body, self.vendor, dict(headers or {}))
        except ActionFailed as exc:
            raise scrub(exc, secrets) from None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def scrub(exc: ActionFailed, secrets: Iterable[str]) -> ActionFailed:
    """The same failure with every secret replaced by ``[redacted]`` in its message."""
    message = str(exc)
    for secret in secrets:
        if secret:
            message = message.replace(secret, REDACTED)
    return ActionFailed(
        message, retryable=exc.retryable, reason=exc.reason, retry_after=exc.retry_after, status=exc.status
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
