"""``teams``: post an Adaptive Card to a Microsoft Teams channel through a Workflows webhook.

Takes an :class:`Intent` and POSTs the Workflows envelope
``{"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
"contentUrl": null, "content": <AdaptiveCard 1.4>}]}`` to the webhook URL; any 2xx is success
(Workflows answers 202 with an empty body), 429 and 5xx are retried, other 4xx are not.

Config (``schemas/actions/teams.schema.json``):
    ``webhook_url_env``  name of the variable holding the webhook URL (default ``TEAMS_WEBHOOK_URL``;
                         set another name to post to several channels)
    ``timeout``          seconds per request (default 10)
    ``full_width``       widen the card with ``msteams.width: Full`` (default true)

Env: ``TEAMS_WEBHOOK_URL``: the whole URL is a secret (it carries a ``sig=`` token), so it is
read only in ``send`` and never appears in a :class:`Request` or an error message.

Intent: ``message`` keys ``title``, ``text``, ``facts`` ``[{"title", "value"}]``, optional
``color`` (``attention``/``warning``/``good``/``accent``, or ``danger``/``critical``/``red``,
``yellow``/``orange``, ``green``/``ok``/``resolved``) and ``actions`` ``[{"title", "url"}]``
(``Action.OpenUrl`` buttons; ``intent.links`` entries ``{"title"|"text", "url"|"href"}`` such as the
runbook are appended). Without ``color`` the severity picks one (CRITICAL attention, MAJOR warning,
``kind: resolve`` good). Without ``title`` it is ``"[SEVERITY] service"``. Only http(s) URLs
become buttons. The 28 KB message limit is in bytes: ``text`` is cut (at a character, before JSON
encoding, so never inside a UTF-8 sequence or a JSON escape) until the encoded request body fits
in ``MAX_BODY`` bytes; if the card is still too large, trailing facts are left out and the card says
how many.

Docs: https://learn.microsoft.com/microsoftteams/platform/webhooks-and-connectors/how-to/connectors-using
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from actions.base import ActionFailed, Intent, Outcome, Request
from actions.transport import Http

CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
MAX_TEXT = 20_000  # characters, before the byte budget below
MAX_BODY = 27 * 1024  # bytes of encoded JSON body; Teams rejects messages above 28 KB (1 KB headroom)
COLORS = {
    "attention": "attention", "danger": "attention", "critical": "attention", "red": "attention",
    "warning": "warning", "yellow": "warning", "orange": "warning",
    "good": "good", "green": "good", "ok": "good", "resolved": "good",
    "accent": "accent", "info": "accent", "blue": "accent",
}
SEVERITY_COLORS = {"CRITICAL": "attention", "MAJOR": "warning", "MODERATE": "accent"}


class Teams:
    name: ClassVar[str] = "teams"
    schema: ClassVar[str] = "actions/teams.schema.json"
    env_vars: ClassVar[tuple[str, ...]] = ("TEAMS_WEBHOOK_URL",)

    def __init__(self, config: Mapping[str, Any], env: Mapping[str, str]) -> None:
        self.url_env = str(config.get("webhook_url_env", "TEAMS_WEBHOOK_URL"))
        self.timeout = float(config.get("timeout", 10))
        # one client per adapter instance, connections reused: a new httpx.Client per send builds an SSL
        # context (~20 ms of CPU, mostly holding the GIL), which starved the daemon's loop thread and its HTTP
        # intake with a hundred Teams sends in flight (benchmarks/delivery.py ``inflight``)
        self.http = Http("Microsoft Teams", self.timeout)
        self.full_width = bool(config.get("full_width", True))
        self.env = env

    def configured(self) -> str | None:
        if not self.env.get(self.url_env):
            return f"{self.url_env} is not set"
        return None

    def render(self, intent: Intent) -> Request:
        message = intent.message
        title = str(message.get("title") or f"[{intent.severity}] {intent.service}")
        color = self._color(intent)
        body: list[dict[str, Any]] = [
            {
                "type": "Container",
                "style": color,
                "items": [
                    {"type": "TextBlock", "text": title, "size": "large", "weight": "bolder",
                     "color": color, "wrap": True},
                ],
            }
        ]
        text = str(message.get("text") or "")
        if len(text) > MAX_TEXT:
            text = text[:MAX_TEXT] + "…"
        facts = [{"title": str(f.get("title", "")), "value": str(f.get("value", ""))}
                 for f in message.get("facts") or ()]
        buttons = _buttons(message.get("actions") or (), intent.links)

        def envelope_with(text: str, facts: list[dict[str, str]], left_out: int = 0) -> dict[str, Any]:
            blocks = list(body)
            if text:
                blocks.append({"type": "TextBlock", "text": text, "wrap": True})
            if facts:
                blocks.append({"type": "FactSet", "facts": facts})
            if left_out:
                blocks.append({"type": "TextBlock", "text": f"({left_out} more facts left out: Teams' 28 KB limit)",
                               "isSubtle": True, "wrap": True})
            card: dict[str, Any] = {"$schema": CARD_SCHEMA, "type": "AdaptiveCard", "version": "1.4"}
            card["body"] = blocks
            if buttons:
                card["actions"] = buttons
            if self.full_width:
                card["msteams"] = {"width": "Full"}
            return {
                "type": "message",
                "summary": title,
                "attachments": [{"contentType": CONTENT_TYPE, "contentUrl": None, "content": card}],
            }

        envelope = envelope_with(text, facts)
        if _size(envelope) > MAX_BODY:
            envelope = _shrink(envelope_with, text, facts)
        return Request(self.name, "POST", f"${self.url_env}", envelope, intent.idempotency_key)

    def send(self, request: Request) -> Outcome:
        url = self.env.get(self.url_env)
        if not url:
            raise ActionFailed(f"teams: {self.url_env} is not set", retryable=False, reason="authError")
        response = self.http.post(url, request.body, secrets=(url,))  # the URL is the secret
        # Legacy O365 connectors answer 200 with this text instead of a 429 status.
        if "HTTP error 429" in response.text[:200]:
            raise ActionFailed("Microsoft Teams throttled the webhook (HTTP error 429 in body)",
                               retryable=True, reason="rateLimited", status=429)
        status = "accepted" if response.status_code == 202 else "ok"
        return Outcome(status, detail=f"Microsoft Teams answered HTTP {response.status_code}")

    def close(self) -> None:
        self.http.close()

    @staticmethod
    def _color(intent: Intent) -> str:
        wanted = str(intent.message.get("color") or "").strip().lower()
        if wanted in COLORS:
            return COLORS[wanted]
        if intent.kind == "resolve":
            return "good"
        return SEVERITY_COLORS.get(intent.severity.upper(), "default")


Link = Mapping[str, Any]


def _size(envelope: Mapping[str, Any]) -> int:
    """Bytes of the request body exactly as ``post_scrubbed`` (httpx >= 0.28) will encode it: its
    ``encode_json`` (a test compares the two), without importing httpx when only rendering."""
    return len(json.dumps(envelope, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8"))


def _shrink(build: Any, text: str, facts: list[dict[str, str]]) -> dict[str, Any]:
    """The largest envelope under ``MAX_BODY``: the longest prefix of ``text`` (plus "…") that fits;
    with no text at all still too large, the most leading facts that fit, and a note."""
    if _size(build("", facts)) <= MAX_BODY:
        low, high = 0, len(text)  # text[:low] + "…" fits; text[:high + 1] + "…" may not
        while low < high:
            middle = (low + high + 1) // 2
            if _size(build(text[:middle] + "…", facts)) <= MAX_BODY:
                low = middle
            else:
                high = middle - 1
        return build(text[:low] + "…" if low else "", facts)
    low, high = 0, len(facts)
    while low < high:
        middle = (low + high + 1) // 2
        if _size(build("", facts[:middle], len(facts) - middle)) <= MAX_BODY:
            low = middle
        else:
            high = middle - 1
    return build("", facts[:low], len(facts) - low)


def _buttons(actions: Iterable[Link], links: Iterable[Link]) -> list[dict[str, str]]:
    """``Action.OpenUrl`` for each http(s) link, message actions first, each URL once."""
    out: list[dict[str, str]] = []
    seen: set[str] = set()
    for item in [*actions, *links]:
        url = str(item.get("url") or item.get("href") or "")
        if not url.startswith(("https://", "http://")) or url in seen:
            continue
        seen.add(url)
        title = str(item.get("title") or item.get("text") or url)
        out.append({"type": "Action.OpenUrl", "title": title, "url": url})
    return out
