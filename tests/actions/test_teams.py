"""teams adapter against a real HTTP server on 127.0.0.1 (pytest_httpserver)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from standin import Standin
from werkzeug import Response

from actions.base import ActionFailed, Intent
from actions.retry import RetryPolicy, execute
from actions.teams import Teams

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "vendor"
SECRET = "sig=s3cr3t-signature"


def intent(**overrides: object) -> Intent:
    fields: dict = dict(
        action="teams",
        kind="notify",
        incident_id="INC-1",
        event_id="ev-1",
        severity="CRITICAL",
        service="payment-api",
        message={
            "title": "CRITICAL: payment-api outage",
            "text": "availability 0.42 < 0.99",
            "facts": [{"title": "Service", "value": "payment-api"}, {"title": "Env", "value": "prod"}],
            "color": "danger",
            "actions": [{"title": "Dashboard", "url": "https://grafana.example.com/d/abc"}],
        },
        links=({"text": "Runbook", "href": "https://runbooks.example.com/payment-api"},),
    )
    fields.update(overrides)
    return Intent(**fields)


EXPECTED = {
    "type": "message",
    "summary": "CRITICAL: payment-api outage",
    "attachments": [
        {
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": None,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": [
                    {
                        "type": "Container",
                        "style": "attention",
                        "items": [
                            {"type": "TextBlock", "text": "CRITICAL: payment-api outage", "size": "large",
                             "weight": "bolder", "color": "attention", "wrap": True}
                        ],
                    },
                    {"type": "TextBlock", "text": "availability 0.42 < 0.99", "wrap": True},
                    {"type": "FactSet", "facts": [{"title": "Service", "value": "payment-api"},
                                                  {"title": "Env", "value": "prod"}]},
                ],
                "actions": [
                    {"type": "Action.OpenUrl", "title": "Dashboard", "url": "https://grafana.example.com/d/abc"},
                    {"type": "Action.OpenUrl", "title": "Runbook", "url": "https://runbooks.example.com/payment-api"},
                ],
                "msteams": {"width": "Full"},
            },
        }
    ],
}


@pytest.fixture
def adapter(httpserver: HTTPServer) -> Teams:
    return Teams({}, {"TEAMS_WEBHOOK_URL": httpserver.url_for("/workflows/abc") + "?" + SECRET})


def test_posts_exact_adaptive_card_envelope(httpserver: HTTPServer, adapter: Teams) -> None:
    httpserver.expect_oneshot_request(
        "/workflows/abc", method="POST", query_string=SECRET, json=EXPECTED
    ).respond_with_data("", status=202)
    request = adapter.render(intent())
    outcome = adapter.send(request)
    httpserver.check_assertions()
    assert outcome.status == "accepted"
    assert len(httpserver.log) == 1
    assert httpserver.log[0][0].headers["Content-Type"] == "application/json"
    assert SECRET not in json.dumps(request.body) + request.target


def test_envelope_matches_the_vendor_fixture_shape(adapter: Teams) -> None:
    fixture = json.loads((FIXTURES / "teams_workflows_adaptive_card_msdocs.json").read_text())
    body = adapter.render(intent()).body
    assert body["type"] == fixture["type"]
    attachment, want = body["attachments"][0], fixture["attachments"][0]
    assert attachment["contentType"] == want["contentType"]
    assert attachment["contentUrl"] is None and "contentUrl" in want
    assert attachment["content"]["$schema"] == want["content"]["$schema"]
    assert attachment["content"]["type"] == "AdaptiveCard"


def test_color_follows_severity_and_resolution(adapter: Teams) -> None:
    def color(i: Intent) -> str:
        return adapter.render(i).body["attachments"][0]["content"]["body"][0]["style"]

    no_color = {"title": "t"}
    assert color(intent(message=no_color)) == "attention"
    assert color(intent(message=no_color, severity="MAJOR")) == "warning"
    assert color(intent(message=no_color, kind="resolve")) == "good"
    assert color(intent(message={"title": "t", "color": "warning"}, severity="CRITICAL")) == "warning"


def test_non_http_links_are_not_buttons_and_urls_are_not_repeated(adapter: Teams) -> None:
    message = {"title": "t", "actions": [{"title": "x", "url": "javascript:alert(1)"},
                                         {"title": "a", "url": "https://a.example"}]}
    links = ({"title": "again", "url": "https://a.example"},)
    card = adapter.render(intent(message=message, links=links)).body["attachments"][0]["content"]
    assert card["actions"] == [{"type": "Action.OpenUrl", "title": "a", "url": "https://a.example"}]


def test_render_is_deterministic(adapter: Teams) -> None:
    assert adapter.render(intent()) == adapter.render(intent())


def test_429_waits_retry_after_then_500_then_succeeds(httpserver: HTTPServer, adapter: Teams) -> None:
    httpserver.expect_ordered_request("/workflows/abc", method="POST").respond_with_data(
        "Too many requests", status=429, headers={"Retry-After": "7"}
    )
    httpserver.expect_ordered_request("/workflows/abc", method="POST").respond_with_data("", status=500)
    httpserver.expect_ordered_request("/workflows/abc", method="POST").respond_with_data("", status=202)
    slept: list[float] = []
    run = execute(adapter, adapter.render(intent()), RetryPolicy(base_delay=0.01), sleep=slept.append)
    assert run.ok and run.outcome is not None and run.outcome.status == "accepted"
    assert [a.reason for a in run.attempts] == ["rateLimited", "serverError", None]
    assert [a.status for a in run.attempts[:2]] == [429, 500]
    assert slept[0] == 7.0 and len(slept) == 2
    assert len(httpserver.log) == 3  # nothing sent after the success


def test_client_error_is_not_retried(httpserver: HTTPServer, adapter: Teams) -> None:
    httpserver.expect_request("/workflows/abc", method="POST").respond_with_json(
        {"error": {"code": "InvalidRequestContent"}}, status=400
    )
    slept: list[float] = []
    run = execute(adapter, adapter.render(intent()), sleep=slept.append)
    assert not run.ok
    assert len(run.attempts) == 1 and run.attempts[0].reason == "clientError"
    assert not run.attempts[0].retryable and slept == []
    assert len(httpserver.log) == 1
    assert SECRET not in run.attempts[0].detail


def test_server_errors_exhaust_the_attempts(httpserver: HTTPServer, adapter: Teams) -> None:
    httpserver.expect_request("/workflows/abc", method="POST").respond_with_data("boom", status=503)
    slept: list[float] = []
    run = execute(adapter, adapter.render(intent()), RetryPolicy(max_attempts=3), sleep=slept.append)
    assert not run.ok and len(run.attempts) == 3 and len(slept) == 2
    assert all(a.reason == "serverError" and a.retryable for a in run.attempts)
    assert len(httpserver.log) == 3


def test_legacy_connector_throttle_text_is_rate_limited(httpserver: HTTPServer, adapter: Teams) -> None:
    httpserver.expect_request("/workflows/abc").respond_with_data(
        "Microsoft Teams endpoint returned HTTP error 429 with ContextId ...", status=200
    )
    with pytest.raises(ActionFailed) as info:
        adapter.send(adapter.render(intent()))
    assert info.value.retryable and info.value.reason == "rateLimited"


def test_unconfigured_names_the_variable_and_send_is_an_auth_error() -> None:
    adapter = Teams({"webhook_url_env": "TEAMS_OPS_URL"}, {})
    assert adapter.configured() == "TEAMS_OPS_URL is not set"
    with pytest.raises(ActionFailed) as info:
        adapter.send(adapter.render(intent()))
    assert info.value.reason == "authError" and not info.value.retryable


def test_connection_refused_is_retryable_and_hides_the_url() -> None:
    adapter = Teams({"timeout": 2}, {"TEAMS_WEBHOOK_URL": "http://127.0.0.1:9/hook?" + SECRET})
    with pytest.raises(ActionFailed) as info:
        adapter.send(adapter.render(intent()))
    assert info.value.retryable and info.value.reason == "connectError"
    assert SECRET not in str(info.value)
    assert info.value.__cause__ is None and info.value.__context__ is None  # httpx chain holds the URL


def test_an_error_body_quoting_the_webhook_url_is_redacted(httpserver: HTTPServer, adapter: Teams) -> None:
    """The whole webhook URL is the secret; before, a 4xx body that quoted it went verbatim into attempts.detail."""
    def echo(request) -> Response:
        return Response(json.dumps({"error": {"message": f"cannot deliver to {request.url}"}}), status=400)

    httpserver.expect_request("/workflows/abc", method="POST").respond_with_handler(echo)
    run = execute(adapter, adapter.render(intent()), sleep=lambda s: None)
    detail = run.attempts[0].detail
    assert not run.ok and "cannot deliver to [redacted]" in detail
    assert "s3cr3t-signature" not in detail and "/workflows/abc" not in detail
    with pytest.raises(ActionFailed) as info:
        adapter.send(adapter.render(intent()))
    assert info.value.__cause__ is None and info.value.__context__ is None


TEAMS_LIMIT = 28 * 1024


def _limited(request: object) -> Response:
    """Teams' documented behaviour: a message above 28 KB is rejected ("Request entity too large")."""
    size = len(request.get_data())  # type: ignore[attr-defined]
    if size > TEAMS_LIMIT:
        return Response("Request entity too large", status=413)
    return Response("", status=202)


@pytest.mark.parametrize(
    "text",
    ["警" * 25_000, "😀" * 9_000, '"\\' * 12_000, "\x01" * 8_000, "a" * 30_000],
    ids=["cjk", "emoji", "json-escapes", "control-chars", "ascii"],
)
def test_long_text_is_cut_to_the_28kb_byte_limit(httpserver: HTTPServer, adapter: Teams, text: str) -> None:
    """Before, text was cut at 20,000 *characters*: 20,000 CJK characters are 60 KB of UTF-8 (and
    quotes or control characters grow under JSON escaping), so Teams refused the card for good."""
    httpserver.expect_request("/workflows/abc", method="POST").respond_with_handler(_limited)
    outcome = adapter.send(adapter.render(intent(message={"title": "t", "text": text})))
    assert outcome.status == "accepted"
    raw = httpserver.log[0][0].get_data()
    assert len(raw) <= TEAMS_LIMIT
    sent = json.loads(raw)["attachments"][0]["content"]["body"][1]["text"]
    assert sent.endswith("…") and text.startswith(sent[:-1]) and len(sent) > 1_000


def test_too_many_facts_are_left_out_with_a_note(httpserver: HTTPServer, adapter: Teams) -> None:
    httpserver.expect_request("/workflows/abc", method="POST").respond_with_handler(_limited)
    facts = [{"title": f"label{i}", "value": "v" * 900} for i in range(64)]
    outcome = adapter.send(adapter.render(intent(message={"title": "t", "text": "x", "facts": facts})))
    assert outcome.status == "accepted"
    raw = httpserver.log[0][0].get_data()
    assert len(raw) <= TEAMS_LIMIT
    blocks = json.loads(raw)["attachments"][0]["content"]["body"]
    kept = blocks[1]["facts"]
    assert kept == facts[: len(kept)] and 10 < len(kept) < 64
    assert blocks[2]["text"].startswith(f"({64 - len(kept)} more facts left out")


def test_sends_reuse_one_connection() -> None:
    """One client per adapter, as the other adapters: a new client per send costs an SSL context (~20 ms of
    CPU holding the GIL), which starved the daemon's loop with a hundred Teams sends in flight."""
    vendor = Standin()
    try:
        teams = Teams({}, {"TEAMS_WEBHOOK_URL": f"{vendor.url}/webhook?{SECRET}"})
        for _ in range(3):
            teams.send(teams.render(intent()))
        assert len(vendor.bodies("/webhook")) == 3
        assert len(vendor.connections) == 1
    finally:
        vendor.close()
