"""``slack``: post an incident message to Slack, by incoming webhook or by bot token.

Takes an :class:`Intent` whose ``message`` is the rendered Slack template: the Slack payload
fields ``text``, ``blocks`` and ``attachments`` (and ``username``, ``icon_emoji``, ``icon_url``,
``unfurl_links``, ``unfurl_media``, ``mrkdwn``, ``reply_broadcast``) pass through unchanged;
``None`` values are dropped. The on-call ``targets`` are mentioned at the start of ``text``:
user ids ``U…``/``W…`` → ``<@U…>``, user-group ids ``S…`` → ``<!subteam^S…>``, ``@channel`` /
``@here`` → ``<!channel>`` / ``<!here>``, an email → its local part as plain text, any other name
as plain text. Without ``text`` the message's ``summary`` (else ``"[SEVERITY] service
(environment): incident <id>"``) follows the mentions, so notifications always have a text.
Every ``kind`` is posted the same way; the template decides what an acknowledgement says.

Two modes, chosen by config:

* **webhook** (no ``channel``): POST the payload to ``SLACK_WEBHOOK_URL``. Slack answers 200 with
  the plain text ``ok``; errors are plain-text codes with 4xx/5xx statuses.
* **bot** (``channel`` set): POST ``{"channel", ...payload}`` to ``{SLACK_API_URL}/chat.postMessage``
  with ``Authorization: Bearer <token>``. Slack answers HTTP 200 even for errors, with
  ``{"ok": false, "error": code}``: ``ratelimited`` is retryable (``rateLimited``, honouring
  ``Retry-After``), ``invalid_auth``, ``not_authed``, ``token_revoked``, ``token_expired`` and
  ``account_inactive`` are ``authError``, anything else is a permanent ``clientError``.

Threads (bot mode): the incident's follow-ups go into the thread of its first message. The first
successful post returns ``Outcome.memo == {"thread_ts": ts}``; the engine stores the memo for the
incident and this action, and passes it back in ``intent.params`` of later steps. When
``intent.params["thread_ts"]`` is set, the request carries it (and the memo repeats it: it is
always the parent's ts, never a reply's). Webhooks do not return a ts, so they produce no memo.

Config (``schemas/actions/slack.schema.json``):
    ``channel``          channel id or name; selects bot mode
    ``token_env``        name of the variable holding the bot token (default ``SLACK_BOT_TOKEN``)
    ``webhook_url_env``  name of the variable holding the webhook URL (default ``SLACK_WEBHOOK_URL``)
    ``timeout``          seconds per request (default 10; connect timeout at most 5)

Env:
    ``SLACK_WEBHOOK_URL``  incoming-webhook URL; the whole URL is a secret. The :class:`Request`
                           names the variable (``${SLACK_WEBHOOK_URL}``) instead of the URL.
    ``SLACK_BOT_TOKEN``    bot token (``xoxb-…``), a secret, sent as a header in ``send`` only.
    ``SLACK_API_URL``      Web API base, default ``https://slack.com/api``.

Docs: https://api.slack.com/methods/chat.postMessage, https://api.slack.com/messaging/webhooks
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import urlsplit

from actions.base import ActionFailed, Intent, Outcome, Request
from actions.retry import parse_retry_after
from actions.transport import Http

VENDOR = "Slack"
DEFAULT_API_URL = "https://slack.com/api"
PAYLOAD_FIELDS = ("text", "blocks", "attachments", "username", "icon_emoji", "icon_url",
                  "unfurl_links", "unfurl_media", "mrkdwn", "reply_broadcast")  # fmt: skip
USER_ID = re.compile(r"[UW][A-Z0-9]{8,}")
GROUP_ID = re.compile(r"S[A-Z0-9]{8,}")
SPECIAL = {"@channel": "<!channel>", "@here": "<!here>"}
RATE_LIMITED = {"ratelimited", "rate_limited"}  # the live API says ratelimited, the 2021 spec rate_limited
AUTH_ERRORS = {"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"}


class Slack:
    name: ClassVar[str] = "slack"
    schema: ClassVar[str] = "actions/slack.schema.json"
    env_vars: ClassVar[tuple[str, ...]] = ("SLACK_WEBHOOK_URL", "SLACK_BOT_TOKEN", "SLACK_API_URL")
    secret_env_vars: ClassVar[tuple[str, ...]] = ("SLACK_WEBHOOK_URL", "SLACK_BOT_TOKEN")

    def __init__(self, config: Mapping[str, Any], env: Mapping[str, str]) -> None:
        self.channel = config.get("channel")
        self.mode = "bot" if self.channel else "webhook"
        if self.mode == "bot":
            self.secret_env = str(config.get("token_env", "SLACK_BOT_TOKEN"))
        else:
            self.secret_env = str(config.get("webhook_url_env", "SLACK_WEBHOOK_URL"))
        self.api = (env.get("SLACK_API_URL") or DEFAULT_API_URL).rstrip("/")
        self.env = env
        self.http = Http(VENDOR, float(config.get("timeout", 10)))

    def configured(self) -> str | None:
        secret = self.env.get(self.secret_env)
        if not secret:
            return f"{self.secret_env} is not set"
        if self.mode == "webhook" and not secret.startswith(("https://", "http://")):
            return f"{self.secret_env} is not an http(s) URL"
        return None

    def render(self, intent: Intent) -> Request:
        body: dict[str, Any] = {"channel": str(self.channel)} if self.mode == "bot" else {}
        body.update({k: intent.message[k] for k in PAYLOAD_FIELDS if intent.message.get(k) is not None})
        body["text"] = _with_mentions(intent, body.get("text"))
        if intent.params.get("thread_ts"):
            body["thread_ts"] = str(intent.params["thread_ts"])
        if self.mode == "bot":
            target, headers = (
                f"{self.api}/chat.postMessage",
                {"Content-Type": "application/json; charset=utf-8"},
            )
        else:
            target, headers = f"${{{self.secret_env}}}", {"Content-Type": "application/json"}
        return Request(self.name, "POST", target, body, intent.idempotency_key, headers)

    def send(self, request: Request) -> Outcome:
        problem = self.configured()
        if problem:
            raise ActionFailed(problem, retryable=False, reason="authError")
        secret = self.env[self.secret_env]
        if self.mode == "webhook":
            path = urlsplit(secret).path
            secrets = (secret, path) if len(path) >= 8 else (secret,)
            response = self.http.post(secret, request.body, headers=request.headers, secrets=secrets)
            return Outcome("ok", detail="Slack webhook accepted the message", response=response.text.strip())
        headers = {**request.headers, "Authorization": f"Bearer {secret}"}
        response = self.http.post(request.target, request.body, headers=headers, secrets=(secret,))
        answer = _json(response.text)
        if not isinstance(answer, dict) or not answer.get("ok"):
            error = answer.get("error", "unknown_error") if isinstance(answer, dict) else "not_json"
            raise _api_failure(str(error).replace(secret, "[redacted]"), response.headers.get("retry-after"))
        thread_ts = request.body.get("thread_ts") or answer.get("ts")
        detail = f"Slack posted to {answer.get('channel', self.channel)} at {answer.get('ts')}"
        return Outcome(
            "ok", detail=detail, response=answer, memo={"thread_ts": thread_ts} if thread_ts else {}
        )

    def close(self) -> None:
        self.http.close()


def _with_mentions(intent: Intent, text: Any) -> str:
    mentions = " ".join(_mention(target) for target in intent.targets)
    text = str(text) if text else str(intent.message.get("summary") or _default_text(intent))
    return f"{mentions} {text}" if mentions else text


def _mention(target: str) -> str:
    if target in SPECIAL:
        return SPECIAL[target]
    if USER_ID.fullmatch(target):
        return f"<@{target}>"
    if GROUP_ID.fullmatch(target):
        return f"<!subteam^{target}>"
    name = target.split("@", 1)[0] if "@" in target else target
    return name.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _default_text(intent: Intent) -> str:
    where = f"{intent.service} ({intent.environment})" if intent.environment else intent.service
    return f"[{intent.severity}] {where}: incident {intent.incident_id}"


def _api_failure(error: str, retry_after: str | None) -> ActionFailed:
    message = f"Slack chat.postMessage failed: {error}"
    if error in RATE_LIMITED:
        return ActionFailed(
            message, retryable=True, reason="rateLimited", retry_after=parse_retry_after(retry_after)
        )
    if error in AUTH_ERRORS:
        return ActionFailed(message, retryable=False, reason="authError")
    return ActionFailed(message, retryable=False, reason="clientError")


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text
