"""``opsgenie``: create, acknowledge and close Opsgenie alerts through the Alert API v2.

Takes an :class:`Intent` and POSTs one request. ``kind`` picks the call: ``page`` and ``notify``
→ create (``POST {base}/v2/alerts``), ``acknowledge`` → ``POST {base}/v2/alerts/{alias}/
acknowledge?identifierType=alias``, ``resolve`` → ``.../close?identifierType=alias``; any other
kind is a rule error (:class:`ActionConfigError`). ``alias`` is the incident id for step 0 and
``<incident id>.step-<n>`` for escalation step n (cut to 512 characters plus a hash when longer):
Opsgenie de-duplicates a create whose alias matches an open alert (only its count goes up, nobody new
is notified), so each step is its own alert whose ``responders`` are that step's targets; acknowledge
and close act on the step they name (the engine requests one per step paged). A create returns
``Outcome.memo == {"vendor_ref": alias}``, kept so that an Opsgenie webhook finds our incident.

A create carries ``message`` (``message["message"]``, else ``message["summary"]``, else
``"[SEVERITY] service (environment): incident <id>"``; at most 130 characters), ``alias``,
``description`` (``message["description"]``, else the untruncated message), ``responders``
(from ``targets``: an email → ``{"username", "type": "user"}``, any other name →
``{"name", "type": "team"}``), ``priority`` (CRITICAL P1, MAJOR P2, MODERATE P3, NONE P5;
anything else P3), ``tags`` (config ``tags``, ``message["tags"]``, then severity, service and
environment; at most 20 of at most 50 characters), ``details`` (the intent's ``details`` with
values as strings, plus ``link:<text>`` entries for its ``links``; Opsgenie allows 8000 characters
in total, counted here in UTF-16 units as Opsgenie's Java side does, so the longest values are cut
first until keys plus values fit), ``entity`` (the service, at most 512) and ``source`` (at most
100; ``user`` too). Acknowledge and close carry ``{"user", "source", "note"}`` (``message["note"]``,
else a note naming the rule).

Opsgenie processes these asynchronously: 202 is ``Outcome("accepted")`` with Opsgenie's answer
(``requestId``) in ``response``; whether the alert really changed is only visible through
``GET /v2/alerts/requests/{requestId}``, which this adapter does not poll. 422 and other 4xx are
permanent, 429 and 5xx retryable. Opsgenie's REST API reaches end of support in 2027, so this
adapter stays deliberately thin.

Config (``schemas/actions/opsgenie.schema.json``):
    ``api_key_env``  name of the variable holding the API key (default ``OPSGENIE_API_KEY``)
    ``region``       ``us`` (default, https://api.opsgenie.com) or ``eu`` (https://api.eu.opsgenie.com)
    ``tags``         tags added to every alert
    ``user``, ``source``  who acted, shown in the alert log (default ``escalation-handlers``)
    ``timeout``      seconds per request (default 10; connect timeout at most 5)

Env:
    ``OPSGENIE_API_KEY``  a secret; sent as ``Authorization: GenieKey <key>`` in ``send`` only,
                          never in a :class:`Request`, an :class:`Outcome` or an error message.
    ``OPSGENIE_API_URL``  overrides the region's base URL when set.

Docs: https://docs.opsgenie.com/docs/alert-api
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote

from actions.base import ActionConfigError, ActionFailed, Intent, Outcome, Request
from actions.transport import Http, fit, step_key

VENDOR = "Opsgenie"
REGIONS = {"us": "https://api.opsgenie.com", "eu": "https://api.eu.opsgenie.com"}
OPERATIONS = {"page": "create", "notify": "create", "acknowledge": "acknowledge", "resolve": "close"}
PRIORITIES = {"CRITICAL": "P1", "MAJOR": "P2", "MODERATE": "P3", "NONE": "P5"}
MAX_MESSAGE, MAX_ALIAS, MAX_DESCRIPTION, MAX_TAGS, MAX_TAG = 130, 512, 15000, 20, 50
MAX_DETAILS, MAX_ENTITY, MAX_SOURCE, MAX_USER, MAX_NOTE = 8000, 512, 100, 100, 25000


class Opsgenie:
    name: ClassVar[str] = "opsgenie"
    schema: ClassVar[str] = "actions/opsgenie.schema.json"
    env_vars: ClassVar[tuple[str, ...]] = ("OPSGENIE_API_KEY", "OPSGENIE_API_URL")
    secret_env_vars: ClassVar[tuple[str, ...]] = ("OPSGENIE_API_KEY",)

    def __init__(self, config: Mapping[str, Any], env: Mapping[str, str]) -> None:
        region = str(config.get("region", "us"))
        if region not in REGIONS:
            raise ActionConfigError(f"opsgenie region {region!r} is not one of {', '.join(REGIONS)}")
        self.key_env = str(config.get("api_key_env", "OPSGENIE_API_KEY"))
        self.base = (env.get("OPSGENIE_API_URL") or REGIONS[region]).rstrip("/")
        self.tags = [str(tag) for tag in config.get("tags", ())]
        self.user = fit(str(config.get("user", "escalation-handlers")), MAX_USER)
        self.source = fit(str(config.get("source", "escalation-handlers")), MAX_SOURCE)
        self.env = env
        self.http = Http(VENDOR, float(config.get("timeout", 10)))

    def configured(self) -> str | None:
        if not self.env.get(self.key_env):
            return f"{self.key_env} is not set"
        return None

    def render(self, intent: Intent) -> Request:
        operation = OPERATIONS.get(intent.kind)
        if operation is None:
            raise ActionConfigError(
                f"opsgenie cannot handle intent kind {intent.kind!r}; want one of " + ", ".join(OPERATIONS)
            )
        alias = step_key(intent.incident_id, intent.step, MAX_ALIAS)
        if operation == "create":
            url, body = f"{self.base}/v2/alerts", self._alert(intent, alias)
        else:
            url = f"{self.base}/v2/alerts/{quote(alias, safe='')}/{operation}?identifierType=alias"
            note = intent.message.get("note") or f"{operation} by escalation-handlers rule {intent.rule_id}"
            body = {"user": self.user, "source": self.source, "note": fit(str(note), MAX_NOTE)}
        headers = {"Content-Type": "application/json"}
        return Request(self.name, "POST", url, body, intent.idempotency_key, headers)

    def send(self, request: Request) -> Outcome:
        problem = self.configured()
        if problem:
            raise ActionFailed(problem, retryable=False, reason="authError")
        key = self.env[self.key_env]
        headers = {**request.headers, "Authorization": f"GenieKey {key}"}
        response = self.http.post(request.target, request.body, headers=headers, secrets=(key,))
        answer = _json(response.text)
        request_id = answer.get("requestId", "") if isinstance(answer, dict) else ""
        detail = f"{VENDOR} accepted the request (HTTP {response.status_code}, requestId {request_id})"
        alias = request.body.get("alias") if isinstance(request.body, dict) else None
        return Outcome("accepted", detail=detail, response=answer, memo={"vendor_ref": alias} if alias else {})

    def close(self) -> None:
        self.http.close()

    def _alert(self, intent: Intent, alias: str) -> dict[str, Any]:
        text = str(intent.message.get("message") or intent.message.get("summary") or _default_message(intent))
        details = {
            str(k): v if isinstance(v, str) else json.dumps(v, sort_keys=True)
            for k, v in intent.details.items()
        }
        for link in intent.links:
            if link.get("href"):
                details[f"link:{link.get('text') or link.get('title') or link['href']}"] = link["href"]
        return {
            "message": fit(text, MAX_MESSAGE),
            "alias": alias,
            "description": fit(str(intent.message.get("description") or text), MAX_DESCRIPTION),
            "responders": [_responder(target) for target in intent.targets],
            "priority": PRIORITIES.get(intent.severity.upper(), "P3"),
            "tags": self._tags(intent),
            "details": _fit_details(details, MAX_DETAILS),
            "entity": fit(intent.service, MAX_ENTITY),
            "source": self.source,
        }

    def _tags(self, intent: Intent) -> list[str]:
        wanted = [
            *self.tags,
            *intent.message.get("tags", ()),
            intent.severity,
            intent.service,
            intent.environment,
        ]
        tags = dict.fromkeys(fit(str(tag), MAX_TAG) for tag in wanted if tag)  # ordered, no duplicates
        return list(tags)[:MAX_TAGS]


def _units(text: str) -> int:
    """Length in UTF-16 code units (a character outside the BMP counts twice)."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _cut(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` UTF-16 units, ending in an ellipsis when cut (at a character)."""
    if _units(text) <= limit:
        return text
    out, used = [], 1  # the ellipsis
    for ch in text:
        used += 2 if ord(ch) > 0xFFFF else 1
        if used > limit:
            break
        out.append(ch)
    return "".join(out) + "…"


def _fit_details(details: dict[str, str], limit: int) -> dict[str, str]:
    """``details`` with keys plus values in at most ``limit`` UTF-16 units: values longer than a
    common cap are cut to it (the longest first, short values and link URLs usually untouched);
    entries are dropped from the end only if the keys alone do not fit."""
    items = list(details.items())
    if sum(_units(k) + _units(v) for k, v in items) <= limit:
        return details
    while items and sum(_units(k) + 1 for k, _ in items) > limit:
        items.pop()
    budget = limit - sum(_units(k) for k, _ in items)
    lengths = [_units(v) for _, v in items]
    low, high = 1, max(lengths, default=1)  # the largest cap whose total fits
    while low < high:
        cap = (low + high + 1) // 2
        if sum(min(n, cap) for n in lengths) <= budget:
            low = cap
        else:
            high = cap - 1
    return {k: _cut(v, low) for k, v in items}


def _responder(target: str) -> dict[str, str]:
    if "@" in target:
        return {"username": target, "type": "user"}
    return {"name": target, "type": "team"}


def _default_message(intent: Intent) -> str:
    where = f"{intent.service} ({intent.environment})" if intent.environment else intent.service
    return f"[{intent.severity}] {where}: incident {intent.incident_id}"


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text
