"""The one interface every action adapter implements.

The engine never performs a side effect while a rule fires: a firing becomes an
:class:`Intent` (what the policy decided: page this team, restart that service,
post this message), the intent is written to the audit log's outbox, and only
then does the executor call the adapter::

    adapter = Registry.create("pagerduty", config, env)   # cheap: no I/O
    problem = adapter.configured()     # None, or "PAGERDUTY_ROUTING_KEY is not set"
    request = adapter.render(intent)   # pure; this is what `rules simulate` prints
    outcome = adapter.send(request)    # the only side effect; raises ActionFailed

Adapters classify failures (:class:`ActionFailed` with ``retryable`` and a
``reason`` label); the retry loop in :mod:`actions.retry` does the backoff, driven by the engine's
executor (``engine/run/execute.py``), and the daemon keeps a wait between attempts off its loop.
Secrets never enter a :class:`Request`: adapters read them from ``env`` inside
``send`` so that the audit log and ``simulate`` output cannot contain them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

# Failure reasons: a small, stable label set (also used as a Prometheus label).
REASONS = ("clientError", "serverError", "authError", "rateLimited", "timeout", "connectError", "other")


class ActionError(Exception):
    """Base class for every error an action adapter raises."""


class ActionConfigError(ActionError):
    """The adapter's configuration (from the rule files) is invalid."""


class ActionFailed(ActionError):
    """One attempt failed. ``retryable`` tells the executor whether to try again."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        reason: str = "other",
        retry_after: float | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.reason = reason if reason in REASONS else "other"
        self.retry_after = retry_after
        self.status = status


@dataclass(frozen=True)
class Intent:
    """What the policy decided one adapter should do for one incident.

    ``message`` is the rendered channel template for this adapter (a mapping whose
    shape the adapter documents: Slack gets Slack payload fields, email gets
    ``subject``/``text``/``html``, PagerDuty gets ``summary``...). ``params`` are the
    rule's own parameters (e.g. ``{"replicas": 2}`` for scale-out).
    """

    action: str
    kind: str  # notify | page | remediate | acknowledge | resolve
    incident_id: str
    event_id: str
    severity: str
    service: str
    environment: str = ""
    level: str = ""
    targets: tuple[str, ...] = ()
    message: Mapping[str, Any] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)
    links: tuple[Mapping[str, str], ...] = ()
    step: int = 0
    rule_id: str = ""

    @property
    def idempotency_key(self) -> str:
        """Same incident, step, action and target → same key: never executed twice."""
        target = ",".join(self.targets)
        return f"{self.incident_id}:{self.kind}:{self.step}:{self.action}:{target}"


@dataclass(frozen=True)
class Request:
    """A fully rendered request: what would be sent, minus secrets."""

    action: str
    method: str  # "POST", "EXEC", "SMTP", "LOG"...
    target: str  # URL without credentials, argv[0], mail server, ...
    body: Any
    idempotency_key: str
    headers: Mapping[str, str] = field(default_factory=dict)
    # the NAME of the environment variable holding the secret ``send`` adds (never its value), when the
    # intent chose one (e.g. a team's per-step PagerDuty routing key); "" = the adapter's default
    secret_env: str = ""


@dataclass(frozen=True)
class Outcome:
    """The result of one successful ``send``."""

    status: str  # "ok" | "accepted"
    detail: str = ""
    response: Any = None
    # State the adapter wants kept for later steps of the same incident (e.g. Slack thread_ts).
    memo: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class Action(Protocol):
    """An action adapter. See the module docstring for the life cycle."""

    name: ClassVar[str]  # the name rule files use, e.g. "scale-out"
    schema: ClassVar[str]  # config schema, relative to schemas/: "actions/scale-out.schema.json"
    env_vars: ClassVar[tuple[str, ...]]  # environment variables it reads (documented, validated)

    def __init__(self, config: Mapping[str, Any], env: Mapping[str, str]) -> None: ...

    def configured(self) -> str | None:
        """``None`` when the adapter can send, else why not (e.g. a missing variable)."""
        ...

    def render(self, intent: Intent) -> Request:
        """Pure: the request ``send`` would make. Must not read secrets."""
        ...

    def send(self, request: Request) -> Outcome:
        """Perform the side effect once. Raise :class:`ActionFailed` on failure."""
        ...
