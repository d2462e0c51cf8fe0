"""``pagerduty``: trigger, acknowledge and resolve PagerDuty alerts through Events API v2.

Takes an :class:`Intent` and POSTs one event to ``{PAGERDUTY_EVENTS_URL}``. ``kind`` picks the
``event_action``: ``page`` and ``notify`` → ``trigger``, ``acknowledge`` → ``acknowledge``,
``resolve`` → ``resolve``; any other kind is a rule error (:class:`ActionConfigError`).
``dedup_key`` is the incident id for step 0 and ``<incident id>.step-<n>`` for escalation step n
(cut to 255 characters plus a hash when longer): PagerDuty folds a trigger whose dedup key matches an
open alert *on the same service* into that alert, so a later step with the step-0 key would notify
nobody new. Each step is its own alert; acknowledge and resolve intents carry the step they act on
(the engine requests one per step that was paged, so a resolve closes every step's alert).
Who a PagerDuty alert notifies is decided by the escalation policy of the service behind the
routing key, not by our ``targets``: to reach the backup, give the team a service whose policy
pages the backup (``pagerduty_backup_routing_key_env`` in the matrix; the decision puts the variable's
name in ``params["routing_key_env"]``, and ``send`` reads that variable).

A trigger carries ``payload.summary`` (``message["summary"]``,
else ``"[SEVERITY] service (environment): incident <id>"``, at most 1024 characters),
``payload.source`` (``message["source"]``, else the service), ``payload.severity`` (CRITICAL
critical, MAJOR error, MODERATE warning, NONE info; anything else error), ``payload.component``
(the service), ``payload.group`` (the environment, when set), ``payload.custom_details`` (the
intent's ``details``), ``links`` (the intent's ``links``, ``{"href", "text"}``) and, when
configured, ``client``/``client_url``. Acknowledge and resolve carry only the dedup key. A
successful trigger returns ``Outcome.memo == {"vendor_ref": <the dedup_key PagerDuty returned>}``:
the engine keeps it so that PagerDuty's webhook for that alert finds our incident.

202 is success (``Outcome("ok")``, ``response`` = PagerDuty's answer); 400 is permanent and the
error quotes PagerDuty's message; 429 and 5xx are retryable. PagerDuty accepts about 120 events
a minute per routing key, so a process-local limiter refuses the 121st event within 60 s with
a retryable ``rateLimited`` failure whose ``retry_after`` says when a slot frees up.

Config (``schemas/actions/pagerduty.schema.json``):
    ``routing_key_env``  name of the variable holding the routing key (default
                         ``PAGERDUTY_ROUTING_KEY``; name another one for a per-team service)
    ``client``, ``client_url``  shown in PagerDuty as the event's origin (optional)
    ``timeout``          seconds per request (default 10; connect timeout at most 5)

Env:
    ``PAGERDUTY_ROUTING_KEY``  the integration (routing) key: a secret. It is added to the body
                               in ``send`` only, so it never appears in a :class:`Request`, an
                               :class:`Outcome` or an error message.
    ``PAGERDUTY_EVENTS_URL``   default ``https://events.pagerduty.com/v2/enqueue``

Docs: https://developer.pagerduty.com/docs/events-api-v2/trigger-events/ (fields and limits),
https://developer.pagerduty.com/docs/events-api-v2/rate-limits/ (120 events/min per key).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

from actions.base import ActionConfigError, ActionFailed, Intent, Outcome, Request
from actions.transport import Http, RateLimiter, fit, step_key

VENDOR = "PagerDuty"
DEFAULT_URL = "https://events.pagerduty.com/v2/enqueue"
EVENT_ACTIONS = {"page": "trigger", "notify": "trigger", "acknowledge": "acknowledge", "resolve": "resolve"}
SEVERITIES = {"CRITICAL": "critical", "MAJOR": "error", "MODERATE": "warning", "NONE": "info"}
MAX_DEDUP_KEY = 255
MAX_SUMMARY = 1024
EVENTS_PER_MINUTE = 120

# One limiter per process: every adapter instance sending with the same routing key shares it.
ROUTING_KEY_LIMITER = RateLimiter(EVENTS_PER_MINUTE, 60.0)


class PagerDuty:
    name: ClassVar[str] = "pagerduty"
    schema: ClassVar[str] = "actions/pagerduty.schema.json"
    env_vars: ClassVar[tuple[str, ...]] = ("PAGERDUTY_ROUTING_KEY", "PAGERDUTY_EVENTS_URL")
    secret_env_vars: ClassVar[tuple[str, ...]] = ("PAGERDUTY_ROUTING_KEY",)

    def __init__(
        self, config: Mapping[str, Any], env: Mapping[str, str], *, rate_limiter: RateLimiter | None = None
    ) -> None:
        self.key_env = str(config.get("routing_key_env", "PAGERDUTY_ROUTING_KEY"))
        self.client = config.get("client")
        self.client_url = config.get("client_url")
        self.url = env.get("PAGERDUTY_EVENTS_URL") or DEFAULT_URL
        self.env = env
        self.limiter = rate_limiter or ROUTING_KEY_LIMITER
        self.http = Http(VENDOR, float(config.get("timeout", 10)))

    def configured(self, key_env: str = "") -> str | None:
        key_env = key_env or self.key_env
        if not self.env.get(key_env):
            return f"{key_env} is not set"
        return None

    def render(self, intent: Intent) -> Request:
        action = EVENT_ACTIONS.get(intent.kind)
        if action is None:
            raise ActionConfigError(
                f"pagerduty cannot handle intent kind {intent.kind!r}; want one of "
                + ", ".join(EVENT_ACTIONS)
            )
        body: dict[str, Any] = {
            "event_action": action,
            "dedup_key": step_key(intent.incident_id, intent.step, MAX_DEDUP_KEY),
        }
        if action == "trigger":
            body["payload"] = self._payload(intent)
            if intent.links:
                body["links"] = [_link(link) for link in intent.links if link.get("href")]
            if self.client:
                body["client"] = str(self.client)
            if self.client_url:
                body["client_url"] = str(self.client_url)
        headers = {"Content-Type": "application/json"}
        key_env = str(intent.params.get("routing_key_env") or "")
        return Request(self.name, "POST", self.url, body, intent.idempotency_key, headers, secret_env=key_env)

    def send(self, request: Request) -> Outcome:
        key_env = request.secret_env or self.key_env
        problem = self.configured(key_env)
        if problem:
            raise ActionFailed(problem, retryable=False, reason="authError")
        key = self.env[key_env]
        wait = self.limiter.acquire(key)
        if wait:
            raise ActionFailed(
                f"{VENDOR}: {self.limiter.limit} events in the last {self.limiter.window:.0f} s for "
                f"{key_env}; next slot in {wait:.1f} s",
                retryable=True,
                reason="rateLimited",
                retry_after=wait,
            )
        body = {"routing_key": key, **request.body}
        response = self.http.post(request.target, body, headers=request.headers, secrets=(key,))
        answer = _json(response.text)
        detail = f"{VENDOR} {request.body['event_action']} accepted (HTTP {response.status_code})"
        returned = answer.get("dedup_key") if isinstance(answer, dict) else None
        sent = request.body["dedup_key"]
        ref = returned if isinstance(returned, str) and returned else sent
        memo = {"vendor_ref": ref} if request.body["event_action"] == "trigger" else {}
        return Outcome("ok", detail=detail, response=answer, memo=memo)

    def close(self) -> None:
        self.http.close()

    def _payload(self, intent: Intent) -> dict[str, Any]:
        summary = str(intent.message.get("summary") or _default_summary(intent))
        payload: dict[str, Any] = {
            "summary": fit(summary, MAX_SUMMARY),
            "source": str(intent.message.get("source") or intent.service),
            "severity": SEVERITIES.get(intent.severity.upper(), "error"),
            "component": intent.service,
        }
        if intent.environment:
            payload["group"] = intent.environment
        payload["custom_details"] = dict(intent.details)
        return payload


def _default_summary(intent: Intent) -> str:
    where = f"{intent.service} ({intent.environment})" if intent.environment else intent.service
    return f"[{intent.severity}] {where}: incident {intent.incident_id}"


def _link(link: Mapping[str, str]) -> dict[str, str]:
    return {"href": link["href"], "text": link.get("text") or link.get("title") or link["href"]}


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text
