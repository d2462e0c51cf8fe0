"""Shared failure classification and the retry loop every adapter goes through.

Adapters classify (``classify_status`` for HTTP, or their own :class:`ActionFailed`);
this module decides whether and when to try again: exponential backoff with full
jitter, capped, honouring ``Retry-After`` when the server sends one.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

from actions.base import Action, ActionFailed, Outcome, Request

if TYPE_CHECKING:  # httpx is imported when a request is sent, not when an adapter is loaded (rules validate)
    import httpx


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    base_delay: float = 0.5  # seconds
    max_delay: float = 30.0
    max_retry_after: float = 120.0  # never sleep longer than this for a Retry-After

    def delay(self, attempt: int, rng: random.Random, retry_after: float | None = None) -> float:
        """Delay before attempt ``attempt + 1`` (``attempt`` counts from 1)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return rng.uniform(0, ceiling)  # "full jitter"


@dataclass
class Attempt:
    number: int
    ok: bool
    detail: str
    reason: str | None = None
    retryable: bool = False
    status: int | None = None
    waited: float = 0.0


@dataclass
class Execution:
    """Everything that happened while executing one request."""

    request: Request
    attempts: list[Attempt] = field(default_factory=list)
    outcome: Outcome | None = None
    retry_in: float | None = None  # set when ``defer`` took the wait: the next attempt is the caller's to run
    used: int = 0  # attempts spent of ``max_attempts`` (a rate-limited one is not: see :func:`execute`)

    @property
    def ok(self) -> bool:
        return self.outcome is not None


def execute(
    adapter: Action,
    request: Request,
    policy: RetryPolicy | None = None,
    *,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
    on_attempt: Callable[[Attempt], None] | None = None,
    on_start: Callable[[int], None] | None = None,
    first: int = 1,
    waited: float = 0.0,
    defer: Callable[[float], bool] | None = None,
    used: int | None = None,
) -> Execution:
    """Call ``adapter.send(request)`` until it succeeds, fails permanently or runs out of attempts.

    ``defer(delay)``: asked before each wait between attempts; when it answers True the wait is not
    slept here: the run returns with ``retry_in`` set, and the caller resumes it later with
    ``first`` = the next attempt's number, ``waited`` = that delay and ``used`` = the run's
    :attr:`Execution.used` (the daemon does, so a backoff or a ``Retry-After`` holds up neither
    intake, nor other actions, nor SIGTERM).

    A rate limit (reason ``rateLimited``: the vendor's 429, an adapter's own limiter) delays the
    next attempt by its ``Retry-After`` and spends no attempt of ``max_attempts``: the same rule as
    the daemon's concurrent executor (:mod:`engine.run.dispatch`), so a throttled page is delayed,
    never failed. Every attempt still gets its own number (and ``attempts`` row).
    """
    policy = policy or RetryPolicy()
    rng = rng or random.Random()
    run = Execution(request, used=first - 1 if used is None else used)
    number = first
    while run.used < policy.max_attempts:
        if on_start:
            on_start(number)  # recorded before the side effect: a crash mid-send leaves a trace
        try:
            outcome = adapter.send(request)
        except ActionFailed as exc:
            attempt = Attempt(number, False, str(exc), exc.reason, exc.retryable, exc.status, waited)
            run.attempts.append(attempt)
            if on_attempt:
                on_attempt(attempt)
            limited = exc.retryable and exc.reason == "rateLimited"
            if not limited:
                run.used += 1
            if not exc.retryable or run.used >= policy.max_attempts:
                return run
            waited = policy.delay(run.used + 1 if limited else run.used, rng, exc.retry_after)
            number += 1
            if defer is not None and defer(waited):
                run.retry_in = waited
                return run
            sleep(waited)
            continue
        run.used += 1
        attempt = Attempt(number, True, outcome.detail, waited=waited)
        run.attempts.append(attempt)
        run.outcome = outcome
        if on_attempt:
            on_attempt(attempt)
        return run
    return run


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` is either delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # "²" is a digit to str.isdigit, not to float()
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def classify_status(response: httpx.Response, vendor: str) -> ActionFailed:
    """Map a non-2xx HTTP response to an :class:`ActionFailed`.

    5xx and 429 are retryable (429 honours Retry-After); 401/403 are auth errors;
    every other 4xx is a permanent client error. The response body is kept short
    and never includes request headers (where credentials live).
    """
    status = response.status_code
    text = response.text[:300].replace("\n", " ")
    message = f"{vendor} answered HTTP {status}: {text}"
    if status == 429:
        return ActionFailed(
            message,
            retryable=True,
            reason="rateLimited",
            retry_after=parse_retry_after(response.headers.get("retry-after")),
            status=status,
        )
    if status >= 500:
        return ActionFailed(
            message,
            retryable=True,
            reason="serverError",
            retry_after=parse_retry_after(response.headers.get("retry-after")),
            status=status,
        )
    if status in (401, 403):
        return ActionFailed(message, retryable=False, reason="authError", status=status)
    return ActionFailed(message, retryable=False, reason="clientError", status=status)


def post_json(
    client: httpx.Client, url: str, body: object, vendor: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    """POST JSON and translate transport errors and non-2xx answers into :class:`ActionFailed`."""
    import httpx

    try:
        response = client.post(url, json=body, headers=headers or {})
    except httpx.TimeoutException as exc:
        raise ActionFailed(f"{vendor}: timed out ({type(exc).__name__})", retryable=True, reason="timeout") from exc
    except httpx.TransportError as exc:
        raise ActionFailed(
            f"{vendor}: connection failed ({type(exc).__name__})", retryable=True, reason="connectError"
        ) from exc
    except httpx.InvalidURL as exc:  # a malformed configured URL (often a secret): its text is not quoted
        raise ActionFailed(
            f"{vendor}: the configured URL is not a valid http(s) URL", retryable=False, reason="clientError"
        ) from exc
    if response.status_code >= 300:
        raise classify_status(response, vendor)
    return response
