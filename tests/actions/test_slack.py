"""Slack adapter (webhook and chat.postMessage): exact bodies and auth on a real local server,
mentions, threads, failure classes and retries."""

from __future__ import annotations

import json

import pytest
from adapter_kit import Recorder, Sleeps, fixture_json, json_response, make_intent, slow
from pytest_httpserver import HTTPServer
from werkzeug import Response

from actions.base import ActionFailed
from actions.retry import execute
from actions.slack import Slack

TOKEN = "xoxb-1234567890-abcdefABCDEF"
HOOK_PATH = "/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"
POSTED = fixture_json("slack_chat_postMessage_response_ok.json")
TS = POSTED["ts"]


def webhook(httpserver: HTTPServer, config: dict | None = None) -> Slack:
    return Slack(config or {}, {"SLACK_WEBHOOK_URL": httpserver.url_for(HOOK_PATH)})


def bot(httpserver: HTTPServer, config: dict | None = None) -> Slack:
    env = {"SLACK_BOT_TOKEN": TOKEN, "SLACK_API_URL": httpserver.url_for("/api")}
    return Slack({"channel": "C1H9RESGL", **(config or {})}, env)


def intent(**overrides: object):
    fields = {
        "action": "slack",
        "kind": "notify",
        "targets": ("U024BE7LH",),
        "message": {"text": "payment-api down"},
    }
    return make_intent(**{**fields, **overrides})


def test_webhook_passes_the_template_through_with_mentions(httpserver: HTTPServer) -> None:
    template = fixture_json("slack_incoming_webhook_blocks_docs_example.json")
    want = {**template, "text": "<@U024BE7LH> <!subteam^SAZ94GDB8> " + template["text"]}
    httpserver.expect_oneshot_request(
        HOOK_PATH, method="POST", json=want, headers={"Content-Type": "application/json"}
    ).respond_with_data("ok", content_type="text/plain")
    slack = webhook(httpserver)
    outcome = slack.send(slack.render(intent(message=template, targets=("U024BE7LH", "SAZ94GDB8"))))
    httpserver.check_assertions()
    assert (outcome.status, outcome.response, outcome.memo) == ("ok", "ok", {})


def test_webhook_drops_nulls_and_keeps_the_channel_out_of_the_template(httpserver: HTTPServer) -> None:
    template = fixture_json("slack_incoming_webhook_attachment_color_alertmanager.json")
    recorder = Recorder(Response("ok"))
    httpserver.expect_request(HOOK_PATH).respond_with_handler(recorder)
    slack = webhook(httpserver)
    slack.send(slack.render(intent(message=template, targets=())))
    sent = recorder.bodies[0]
    assert sent == {
        "username": "Alertmanager",
        "attachments": template["attachments"],
        "text": "[CRITICAL] payment-api (prod): incident inc-payment-api-prod-20240501",  # no text or summary
    }


def test_webhook_request_names_the_variable_not_the_url(httpserver: HTTPServer) -> None:
    request = webhook(httpserver).render(intent())
    assert request.target == "${SLACK_WEBHOOK_URL}"
    assert HOOK_PATH not in repr(request)
    assert (
        Slack({"webhook_url_env": "SLACK_HOOK_PAYMENTS"}, {}).render(intent()).target
        == "${SLACK_HOOK_PAYMENTS}"
    )


def test_bot_posts_to_the_channel_and_remembers_the_thread(httpserver: HTTPServer) -> None:
    want = {"channel": "C1H9RESGL", "text": "<@U024BE7LH> payment-api down"}
    httpserver.expect_oneshot_request(
        "/api/chat.postMessage",
        method="POST",
        json=want,
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json; charset=utf-8"},
    ).respond_with_json(POSTED)
    slack = bot(httpserver)
    outcome = slack.send(slack.render(intent()))
    httpserver.check_assertions()
    assert outcome.memo == {"thread_ts": TS}
    assert outcome.response == POSTED
    assert TOKEN not in repr(outcome)


def test_follow_ups_go_into_the_parent_thread(httpserver: HTTPServer) -> None:
    reply = {**POSTED, "ts": "1503435999.000100"}
    recorder = Recorder(json_response(reply))
    httpserver.expect_request("/api/chat.postMessage").respond_with_handler(recorder)
    slack = bot(httpserver)
    outcome = slack.send(slack.render(intent(kind="acknowledge", params={"thread_ts": TS})))
    assert recorder.bodies[0]["thread_ts"] == TS
    assert outcome.memo == {"thread_ts": TS}  # the parent's ts, never the reply's


@pytest.mark.parametrize(
    ("target", "mention"),
    [
        ("U024BE7LH", "<@U024BE7LH>"),
        ("W0123456789", "<@W0123456789>"),
        ("SAZ94GDB8", "<!subteam^SAZ94GDB8>"),
        ("@channel", "<!channel>"),
        ("@here", "<!here>"),
        ("alice.smith@example.com", "alice.smith"),
        ("SRE", "SRE"),  # a short name is not a user-group id
        ("a<b>&c", "a&lt;b&gt;&amp;c"),
    ],
)
def test_mentions(target: str, mention: str) -> None:
    assert Slack({}, {}).render(intent(targets=(target,))).body["text"] == f"{mention} payment-api down"


def test_render_holds_no_secret_in_either_mode() -> None:
    env = {"SLACK_BOT_TOKEN": TOKEN, "SLACK_WEBHOOK_URL": "https://hooks.slack.com" + HOOK_PATH}
    for config in ({}, {"channel": "#incidents"}):
        request = Slack(config, env).render(intent())
        assert TOKEN not in repr(request) and HOOK_PATH not in repr(request)


def test_unconfigured_modes_name_their_variable(httpserver: HTTPServer) -> None:
    assert Slack({}, {}).configured() == "SLACK_WEBHOOK_URL is not set"
    assert Slack({"channel": "#x"}, {}).configured() == "SLACK_BOT_TOKEN is not set"
    assert Slack({}, {"SLACK_WEBHOOK_URL": "hooks.slack.com/x"}).configured() == (
        "SLACK_WEBHOOK_URL is not an http(s) URL"
    )
    slack = Slack({"channel": "#x"}, {"SLACK_API_URL": httpserver.url_for("/api")})
    with pytest.raises(ActionFailed) as failure:
        slack.send(slack.render(intent()))
    assert (failure.value.retryable, failure.value.reason) == (False, "authError")
    assert str(failure.value) == "SLACK_BOT_TOKEN is not set"
    assert httpserver.log == []


def test_api_error_is_permanent(httpserver: HTTPServer, sleeps: Sleeps) -> None:
    recorder = Recorder(json_response(fixture_json("slack_chat_postMessage_response_error.json")))
    httpserver.expect_request("/api/chat.postMessage").respond_with_handler(recorder)
    slack = bot(httpserver)
    run = execute(slack, slack.render(intent()), sleep=sleeps)
    assert not run.ok and len(recorder.requests) == 1 and sleeps == []
    assert (run.attempts[0].reason, run.attempts[0].retryable) == ("clientError", False)
    assert "too_many_attachments" in run.attempts[0].detail


@pytest.mark.parametrize("error", ["invalid_auth", "not_authed", "token_revoked"])
def test_auth_errors(httpserver: HTTPServer, error: str) -> None:
    httpserver.expect_request("/api/chat.postMessage").respond_with_json({"ok": False, "error": error})
    slack = bot(httpserver)
    with pytest.raises(ActionFailed) as failure:
        slack.send(slack.render(intent()))
    assert (failure.value.reason, failure.value.retryable) == ("authError", False)
    assert TOKEN not in str(failure.value)


def test_ratelimited_in_an_ok_false_answer_is_retried(httpserver: HTTPServer, sleeps: Sleeps) -> None:
    limited = json_response({"ok": False, "error": "ratelimited"}, 200, {"Retry-After": "3"})
    recorder = Recorder(limited, json_response(POSTED))
    httpserver.expect_request("/api/chat.postMessage").respond_with_handler(recorder)
    slack = bot(httpserver)
    run = execute(slack, slack.render(intent()), sleep=sleeps)
    assert run.ok and run.outcome.memo == {"thread_ts": TS}
    assert sleeps == [3.0] and len(recorder.requests) == 2
    assert [a.reason for a in run.attempts] == ["rateLimited", None]


def test_webhook_429_honours_retry_after(httpserver: HTTPServer, sleeps: Sleeps) -> None:
    recorder = Recorder(Response("rate_limited", status=429, headers={"Retry-After": "2"}), Response("ok"))
    httpserver.expect_request(HOOK_PATH).respond_with_handler(recorder)
    slack = webhook(httpserver)
    run = execute(slack, slack.render(intent()), sleep=sleeps)
    assert run.ok and sleeps == [2.0] and len(recorder.requests) == 2


def test_webhook_errors_are_permanent_and_do_not_leak_the_url(httpserver: HTTPServer, sleeps: Sleeps) -> None:
    recorder = Recorder(Response(f"channel_not_found {HOOK_PATH}", status=404))
    httpserver.expect_request(HOOK_PATH).respond_with_handler(recorder)
    slack = webhook(httpserver)
    run = execute(slack, slack.render(intent()), sleep=sleeps)
    assert not run.ok and len(recorder.requests) == 1
    assert (run.attempts[0].reason, run.attempts[0].status) == ("clientError", 404)
    assert "channel_not_found" in run.attempts[0].detail
    assert HOOK_PATH not in run.attempts[0].detail


def test_500_then_success(httpserver: HTTPServer, sleeps: Sleeps, rng) -> None:
    recorder = Recorder(Response("rollup_error", status=500), Response("ok"))
    httpserver.expect_request(HOOK_PATH).respond_with_handler(recorder)
    slack = webhook(httpserver)
    run = execute(slack, slack.render(intent()), sleep=sleeps, rng=rng)
    assert run.ok and [a.reason for a in run.attempts] == ["serverError", None]
    assert len(recorder.requests) == 2 and recorder.bodies[0] == recorder.bodies[1]


def test_timeout_is_retried(httpserver: HTTPServer, sleeps: Sleeps) -> None:
    recorder = Recorder(slow(1.0, json_response(POSTED)), json_response(POSTED))
    httpserver.expect_request("/api/chat.postMessage").respond_with_handler(recorder)
    slack = bot(httpserver, {"timeout": 0.2})
    run = execute(slack, slack.render(intent()), sleep=sleeps)
    assert run.ok and [a.reason for a in run.attempts] == ["timeout", None]
    assert len(recorder.requests) == 2 and len(sleeps) == 1


def test_webhook_token_echoed_with_escaped_slashes_is_redacted(httpserver: HTTPServer, sleeps: Sleeps) -> None:
    """A JSON encoder that escapes '/' (PHP, some proxies) quoted the URL in a form the old scrub missed."""
    token = HOOK_PATH.rsplit("/", 1)[1]
    body = json.dumps({"error": "invalid_token", "url": "URL"}).replace("URL", "http:\\/\\/hooks" + HOOK_PATH.replace(
        "/", "\\/"))
    httpserver.expect_request(HOOK_PATH).respond_with_handler(Recorder(Response(body, status=403)))
    slack = webhook(httpserver)
    run = execute(slack, slack.render(intent()), sleep=sleeps)
    assert not run.ok and "invalid_token" in run.attempts[0].detail
    assert token not in run.attempts[0].detail
