"""PagerDuty Events API v2 adapter: exact bodies on a real local server, failure classes, retries."""

from __future__ import annotations

import pytest
from adapter_kit import FakeClock, Recorder, Sleeps, fixture_json, json_response, make_intent, slow
from pytest_httpserver import HTTPServer
from werkzeug import Response

from actions.base import ActionConfigError, ActionFailed
from actions.pagerduty import PagerDuty
from actions.retry import RetryPolicy, execute
from actions.transport import RateLimiter

KEY = "e93facc04764012d7bfb002500d5d1a6"
PATH = "/v2/enqueue"
ACCEPTED = fixture_json("pagerduty_events_v2_response_202.json")


@pytest.fixture
def limiter(clock: FakeClock) -> RateLimiter:
    return RateLimiter(120, 60.0, clock=clock)


def adapter(
    httpserver: HTTPServer, limiter: RateLimiter, config: dict | None = None, **env: str
) -> PagerDuty:
    env = {"PAGERDUTY_ROUTING_KEY": KEY, "PAGERDUTY_EVENTS_URL": httpserver.url_for(PATH), **env}
    return PagerDuty(config or {}, env, rate_limiter=limiter)


def test_trigger_sends_the_documented_event(httpserver: HTTPServer, limiter: RateLimiter) -> None:
    want = {
        "routing_key": KEY,
        "event_action": "trigger",
        "dedup_key": "inc-payment-api-prod-20240501",
        "payload": {
            "summary": "payment-api error rate 12% (threshold 5%)",
            "source": "payment-api",
            "severity": "critical",
            "component": "payment-api",
            "group": "prod",
            "custom_details": {"error_rate": 0.12, "region": "eu-west-1"},
        },
        "links": [{"href": "https://runbooks.example.com/payment-api", "text": "Runbook"}],
        "client": "escalation-handlers",
        "client_url": "https://rules.example.com",
    }
    httpserver.expect_oneshot_request(PATH, method="POST", json=want).respond_with_json(ACCEPTED, status=202)
    pd = adapter(
        httpserver, limiter, {"client": "escalation-handlers", "client_url": "https://rules.example.com"}
    )
    outcome = pd.send(pd.render(make_intent()))
    httpserver.check_assertions()
    assert outcome.status == "ok"
    assert outcome.response == ACCEPTED
    assert KEY not in repr(outcome)


def test_trigger_has_the_vendor_documented_shape(httpserver: HTTPServer, limiter: RateLimiter) -> None:
    documented = fixture_json("pagerduty_events_v2_trigger_devdocs.json")
    recorder = Recorder(json_response(ACCEPTED, 202))
    httpserver.expect_request(PATH).respond_with_handler(recorder)
    pd = adapter(httpserver, limiter, {"client": "c", "client_url": "https://c.example.com"})
    pd.send(pd.render(make_intent()))
    sent = recorder.bodies[0]
    # Every field we send is one the vendor documents, and all required ones are there.
    assert set(sent) == set(documented) - {"images"}
    assert set(sent["payload"]) <= set(documented["payload"])
    assert {"summary", "source", "severity"} <= set(sent["payload"])
    assert recorder.requests[0]["headers"]["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    ("kind", "fixture"),
    [
        ("acknowledge", "pagerduty_events_v2_acknowledge_devdocs.json"),
        ("resolve", "pagerduty_events_v2_resolve_devdocs.json"),
    ],
)
def test_acknowledge_and_resolve_carry_only_the_dedup_key(
    httpserver: HTTPServer, limiter: RateLimiter, kind: str, fixture: str
) -> None:
    documented = fixture_json(fixture)
    want = {"routing_key": KEY, "dedup_key": "inc-payment-api-prod-20240501", "event_action": kind}
    assert set(want) == set(documented)
    httpserver.expect_oneshot_request(PATH, method="POST", json=want).respond_with_json(ACCEPTED, status=202)
    pd = adapter(httpserver, limiter)
    assert pd.send(pd.render(make_intent(kind=kind))).status == "ok"
    httpserver.check_assertions()


@pytest.mark.parametrize(
    ("severity", "want"),
    [
        ("CRITICAL", "critical"),
        ("MAJOR", "error"),
        ("MODERATE", "warning"),
        ("NONE", "info"),
        ("bogus", "error"),
    ],
)
def test_severity_mapping(severity: str, want: str) -> None:
    body = PagerDuty({}, {}).render(make_intent(severity=severity)).body
    assert body["payload"]["severity"] == want


def test_notify_also_triggers_and_other_kinds_are_rule_errors() -> None:
    pd = PagerDuty({}, {})
    assert pd.render(make_intent(kind="notify")).body["event_action"] == "trigger"
    with pytest.raises(ActionConfigError, match="remediate"):
        pd.render(make_intent(kind="remediate"))


def test_long_dedup_key_and_summary_are_cut_deterministically() -> None:
    pd = PagerDuty({}, {})
    long_id = "inc-" + "x" * 400
    intent = make_intent(incident_id=long_id, message={"summary": "s" * 5000})
    body = pd.render(intent).body
    assert len(body["dedup_key"]) == 255
    assert body["dedup_key"] == pd.render(intent).body["dedup_key"]
    assert body["dedup_key"] != pd.render(make_intent(incident_id=long_id + "y")).body["dedup_key"]
    assert len(body["payload"]["summary"]) == 1024
    assert body["payload"]["summary"].endswith("…")


def test_summary_falls_back_when_the_template_gives_none() -> None:
    body = PagerDuty({}, {}).render(make_intent(message={}, severity="MAJOR")).body
    assert body["payload"]["summary"] == "[MAJOR] payment-api (prod): incident inc-payment-api-prod-20240501"


def test_render_is_pure_and_holds_no_routing_key() -> None:
    pd = PagerDuty({}, {"PAGERDUTY_ROUTING_KEY": KEY})
    request = pd.render(make_intent())
    assert KEY not in repr(request)
    assert request.target == "https://events.pagerduty.com/v2/enqueue"
    assert request == pd.render(make_intent())


def test_per_team_routing_key_env(httpserver: HTTPServer, limiter: RateLimiter) -> None:
    recorder = Recorder(json_response(ACCEPTED, 202))
    httpserver.expect_request(PATH).respond_with_handler(recorder)
    pd = adapter(httpserver, limiter, {"routing_key_env": "PD_KEY_PAYMENTS"}, PD_KEY_PAYMENTS="team-key-123")
    pd.send(pd.render(make_intent()))
    assert recorder.bodies[0]["routing_key"] == "team-key-123"
    assert PagerDuty({"routing_key_env": "PD_KEY_PAYMENTS"}, {}).configured() == "PD_KEY_PAYMENTS is not set"


def test_unconfigured_send_is_a_permanent_auth_error(httpserver: HTTPServer) -> None:
    pd = PagerDuty({}, {"PAGERDUTY_EVENTS_URL": httpserver.url_for(PATH)})
    assert pd.configured() == "PAGERDUTY_ROUTING_KEY is not set"
    with pytest.raises(ActionFailed) as failure:
        pd.send(pd.render(make_intent()))
    assert (failure.value.retryable, failure.value.reason) == (False, "authError")
    assert str(failure.value) == "PAGERDUTY_ROUTING_KEY is not set"
    assert httpserver.log == []


def test_400_is_permanent_and_quotes_pagerduty(
    httpserver: HTTPServer, limiter: RateLimiter, sleeps: Sleeps
) -> None:
    recorder = Recorder(json_response(fixture_json("pagerduty_events_v2_response_400.json"), 400))
    httpserver.expect_request(PATH).respond_with_handler(recorder)
    pd = adapter(httpserver, limiter)
    run = execute(pd, pd.render(make_intent()), sleep=sleeps)
    assert not run.ok and len(recorder.requests) == 1 and sleeps == []
    attempt = run.attempts[0]
    assert (attempt.reason, attempt.retryable, attempt.status) == ("clientError", False, 400)
    assert "Event object is invalid" in attempt.detail
    assert "Length of 'routing_key' is incorrect" in attempt.detail


def test_a_routing_key_echoed_in_an_error_is_redacted(httpserver: HTTPServer, limiter: RateLimiter) -> None:
    httpserver.expect_request(PATH).respond_with_json({"message": f"bad key {KEY}"}, status=400)
    pd = adapter(httpserver, limiter)
    with pytest.raises(ActionFailed) as failure:
        pd.send(pd.render(make_intent()))
    assert KEY not in str(failure.value)
    assert "[redacted]" in str(failure.value)
    assert failure.value.__cause__ is None


def test_429_honours_retry_after_then_succeeds_once(
    httpserver: HTTPServer, limiter: RateLimiter, sleeps: Sleeps, rng
) -> None:
    recorder = Recorder(
        Response("429 - Request Limit Exceeded", status=429, headers={"Retry-After": "30"}),
        json_response(ACCEPTED, 202),
    )
    httpserver.expect_request(PATH).respond_with_handler(recorder)
    pd = adapter(httpserver, limiter)
    run = execute(pd, pd.render(make_intent()), sleep=sleeps, rng=rng)
    assert run.ok and run.outcome.status == "ok"
    assert sleeps == [30.0]
    assert [a.reason for a in run.attempts] == ["rateLimited", None]
    assert len(recorder.requests) == 2
    assert recorder.bodies[0] == recorder.bodies[1]


def test_500_is_retried_with_backoff(
    httpserver: HTTPServer, limiter: RateLimiter, sleeps: Sleeps, rng
) -> None:
    recorder = Recorder(
        Response("oops", status=500), Response("oops", status=503), json_response(ACCEPTED, 202)
    )
    httpserver.expect_request(PATH).respond_with_handler(recorder)
    pd = adapter(httpserver, limiter)
    policy = RetryPolicy(base_delay=0.5)
    run = execute(pd, pd.render(make_intent()), policy, sleep=sleeps, rng=rng)
    assert run.ok and len(recorder.requests) == 3
    assert [a.reason for a in run.attempts] == ["serverError", "serverError", None]
    assert len(sleeps) == 2 and 0 <= sleeps[0] <= 0.5 and 0 <= sleeps[1] <= 1.0


def test_5xx_until_attempts_run_out(httpserver: HTTPServer, limiter: RateLimiter, sleeps: Sleeps) -> None:
    recorder = Recorder(Response("down", status=502))
    httpserver.expect_request(PATH).respond_with_handler(recorder)
    pd = adapter(httpserver, limiter)
    run = execute(pd, pd.render(make_intent()), RetryPolicy(max_attempts=3), sleep=sleeps)
    assert not run.ok and len(recorder.requests) == 3 and len(sleeps) == 2
    assert run.attempts[-1].retryable and run.attempts[-1].status == 502


def test_timeout_is_retried(httpserver: HTTPServer, limiter: RateLimiter, sleeps: Sleeps) -> None:
    recorder = Recorder(slow(1.0, json_response(ACCEPTED, 202)), json_response(ACCEPTED, 202))
    httpserver.expect_request(PATH).respond_with_handler(recorder)
    pd = adapter(httpserver, limiter, {"timeout": 0.2})
    run = execute(pd, pd.render(make_intent()), sleep=sleeps)
    assert run.ok
    assert [a.reason for a in run.attempts] == ["timeout", None]
    assert len(recorder.requests) == 2 and len(sleeps) == 1


def test_rate_limit_per_routing_key(httpserver: HTTPServer, clock: FakeClock, sleeps: Sleeps) -> None:
    recorder = Recorder(json_response(ACCEPTED, 202))
    httpserver.expect_request(PATH).respond_with_handler(recorder)
    limiter = RateLimiter(2, 60.0, clock=clock)
    pd = adapter(httpserver, limiter)
    other = adapter(httpserver, limiter, PAGERDUTY_ROUTING_KEY="another-key")
    pd.send(pd.render(make_intent()))
    clock.advance(10)
    pd.send(pd.render(make_intent()))
    with pytest.raises(ActionFailed) as failure:
        pd.send(pd.render(make_intent()))
    assert (failure.value.reason, failure.value.retryable, failure.value.retry_after) == (
        "rateLimited",
        True,
        50.0,
    )
    assert KEY not in str(failure.value)
    assert len(recorder.requests) == 2  # refused locally: nothing sent
    other.send(other.render(make_intent()))  # another key has its own budget
    # Through the executor: it waits as long as the limiter says, then the event goes out.
    run = execute(pd, pd.render(make_intent()), sleep=sleeps)
    assert run.ok and sleeps == [50.0] and len(recorder.requests) == 4


def test_default_limit_is_120_events_a_minute(clock: FakeClock) -> None:
    from actions.pagerduty import ROUTING_KEY_LIMITER

    assert (ROUTING_KEY_LIMITER.limit, ROUTING_KEY_LIMITER.window) == (120, 60.0)
    limiter = RateLimiter(120, 60.0, clock=clock)
    assert all(limiter.acquire(KEY) == 0.0 for _ in range(120))
    assert limiter.acquire(KEY) == 60.0
    clock.advance(60)
    assert limiter.acquire(KEY) == 0.0


def test_a_redacted_failure_keeps_no_link_to_the_unredacted_one(httpserver: HTTPServer, limiter: RateLimiter) -> None:
    """``raise scrub(exc) from None`` still left the original (key in its text) as ``__context__``."""
    httpserver.expect_request(PATH).respond_with_json({"message": f"bad key {KEY}"}, status=400)
    pd = adapter(httpserver, limiter)
    with pytest.raises(ActionFailed) as failure:
        pd.send(pd.render(make_intent()))
    assert failure.value.__context__ is None
