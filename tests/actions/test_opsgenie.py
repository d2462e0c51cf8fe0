"""Opsgenie Alert API adapter: exact bodies and auth on a real local server, failure classes, retries."""

from __future__ import annotations

import json

import pytest
from adapter_kit import Recorder, Sleeps, fixture_json, json_response, make_intent, slow
from pytest_httpserver import HTTPServer

from actions.base import ActionConfigError, ActionFailed
from actions.opsgenie import Opsgenie
from actions.retry import execute

KEY = "eb243592-faa2-4ba2-a551q-1afdf565c889"
ACCEPTED = fixture_json("opsgenie_async_response_202.json")
INCIDENT = "inc-payment-api-prod-20240501"


def adapter(httpserver: HTTPServer, config: dict | None = None, **env: str) -> Opsgenie:
    env = {"OPSGENIE_API_KEY": KEY, "OPSGENIE_API_URL": httpserver.url_for("/"), **env}
    return Opsgenie(config or {}, env)


def intent(**overrides: object):
    fields = {
        "action": "opsgenie",
        "targets": ("payments-oncall", "trinity@example.com"),
        "message": {"message": "payment-api error rate 12%", "description": "Error rate 12% > 5% for 5 min"},
    }
    return make_intent(**{**fields, **overrides})


def test_create_sends_the_documented_alert(httpserver: HTTPServer) -> None:
    want = {
        "message": "payment-api error rate 12%",
        "alias": INCIDENT,
        "description": "Error rate 12% > 5% for 5 min",
        "responders": [
            {"name": "payments-oncall", "type": "team"},
            {"username": "trinity@example.com", "type": "user"},
        ],
        "priority": "P1",
        "tags": ["payments", "CRITICAL", "payment-api", "prod"],
        "details": {
            "error_rate": "0.12",
            "region": "eu-west-1",
            "link:Runbook": "https://runbooks.example.com/payment-api",
        },
        "entity": "payment-api",
        "source": "escalation-handlers",
    }
    httpserver.expect_oneshot_request(
        "/v2/alerts", method="POST", json=want, headers={"Authorization": f"GenieKey {KEY}"}
    ).respond_with_json(ACCEPTED, status=202)
    og = adapter(httpserver, {"tags": ["payments"]})
    outcome = og.send(og.render(intent()))
    httpserver.check_assertions()
    assert outcome.status == "accepted"
    assert outcome.response["requestId"] == "43a29c5c-3dbf-4fa4-9c26-f4f71023e120"
    assert "43a29c5c-3dbf-4fa4-9c26-f4f71023e120" in outcome.detail
    assert KEY not in repr(outcome)


def test_create_uses_only_documented_fields() -> None:
    documented = fixture_json("opsgenie_create_alert_request_docs.json")
    body = Opsgenie({}, {}).render(intent()).body
    assert set(body) <= set(documented) | {"source"}  # source is documented, absent from the sample
    assert [set(responder) for responder in body["responders"]] == [{"type", "name"}, {"type", "username"}]
    assert all(isinstance(value, str) for value in body["details"].values())


@pytest.mark.parametrize(("kind", "operation"), [("acknowledge", "acknowledge"), ("resolve", "close")])
def test_acknowledge_and_close_by_alias(httpserver: HTTPServer, kind: str, operation: str) -> None:
    documented = fixture_json("opsgenie_close_or_ack_request_body.json")
    want = {
        "user": "escalation-handlers",
        "source": "escalation-handlers",
        "note": "closed by the on-call rule",
    }
    assert set(want) == set(documented)
    httpserver.expect_oneshot_request(
        f"/v2/alerts/{INCIDENT}/{operation}",
        method="POST",
        query_string={"identifierType": "alias"},
        json=want,
        headers={"Authorization": f"GenieKey {KEY}"},
    ).respond_with_json(ACCEPTED, status=202)
    og = adapter(httpserver)
    assert (
        og.send(og.render(intent(kind=kind, message={"note": "closed by the on-call rule"}))).status
        == "accepted"
    )
    httpserver.check_assertions()


def test_alias_with_slashes_is_escaped_in_the_path() -> None:
    request = Opsgenie({}, {}).render(intent(kind="resolve", incident_id="svc/prod#1"))
    assert request.target == "https://api.opsgenie.com/v2/alerts/svc%2Fprod%231/close?identifierType=alias"
    assert request.body["note"] == "close by escalation-handlers rule page-critical"


@pytest.mark.parametrize(
    ("severity", "want"),
    [("CRITICAL", "P1"), ("MAJOR", "P2"), ("MODERATE", "P3"), ("NONE", "P5"), ("?", "P3")],
)
def test_priority_mapping(severity: str, want: str) -> None:
    assert Opsgenie({}, {}).render(intent(severity=severity)).body["priority"] == want


def test_limits_are_respected() -> None:
    og = Opsgenie({}, {})
    body = og.render(intent(message={"summary": "m" * 500}, incident_id="i" * 900)).body
    assert len(body["message"]) == 130 and body["message"].endswith("…")
    assert body["description"] == "m" * 500  # the full text is kept where there is room
    assert len(body["alias"]) == 512
    many = og.render(intent(message={"message": "x", "tags": [f"t{i}" for i in range(30)] + ["y" * 80]})).body
    assert len(many["tags"]) == 20


def test_region_and_url(httpserver: HTTPServer) -> None:
    assert Opsgenie({"region": "eu"}, {}).render(intent()).target == "https://api.eu.opsgenie.com/v2/alerts"
    assert Opsgenie({}, {}).render(intent()).target == "https://api.opsgenie.com/v2/alerts"
    assert adapter(httpserver, {"region": "eu"}).render(intent()).target == httpserver.url_for("/v2/alerts")
    with pytest.raises(ActionConfigError, match="region"):
        Opsgenie({"region": "mars"}, {})


def test_other_kinds_are_rule_errors() -> None:
    with pytest.raises(ActionConfigError, match="remediate"):
        Opsgenie({}, {}).render(intent(kind="remediate"))


def test_render_holds_no_api_key() -> None:
    og = Opsgenie({}, {"OPSGENIE_API_KEY": KEY})
    assert KEY not in repr(og.render(intent())) and KEY not in repr(og.render(intent(kind="resolve")))


def test_unconfigured_send_is_a_permanent_auth_error(httpserver: HTTPServer) -> None:
    og = Opsgenie({"api_key_env": "OG_KEY_TEAM"}, {"OPSGENIE_API_URL": httpserver.url_for("/")})
    assert og.configured() == "OG_KEY_TEAM is not set"
    with pytest.raises(ActionFailed) as failure:
        og.send(og.render(intent()))
    assert (failure.value.retryable, failure.value.reason, str(failure.value)) == (
        False,
        "authError",
        "OG_KEY_TEAM is not set",
    )
    assert httpserver.log == []


def test_422_is_permanent(httpserver: HTTPServer, sleeps: Sleeps) -> None:
    recorder = Recorder(json_response(fixture_json("opsgenie_error_422.json"), 422))
    httpserver.expect_request("/v2/alerts").respond_with_handler(recorder)
    og = adapter(httpserver)
    run = execute(og, og.render(intent()), sleep=sleeps)
    assert not run.ok and len(recorder.requests) == 1 and sleeps == []
    attempt = run.attempts[0]
    assert (attempt.reason, attempt.retryable, attempt.status) == ("clientError", False, 422)
    assert "Invalid recipient type" in attempt.detail


def test_401_is_an_auth_error_without_the_key(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v2/alerts").respond_with_json(
        {"message": f"Key {KEY} is invalid"}, status=401
    )
    og = adapter(httpserver)
    with pytest.raises(ActionFailed) as failure:
        og.send(og.render(intent()))
    assert failure.value.reason == "authError" and not failure.value.retryable
    assert KEY not in str(failure.value)


def test_429_honours_retry_after_then_succeeds_once(httpserver: HTTPServer, sleeps: Sleeps) -> None:
    throttled = json_response(
        fixture_json("opsgenie_error_429.json"),
        429,
        {"Retry-After": "7", "X-RateLimit-State": "THROTTLED", "X-RateLimit-Period-In-Sec": "60"},
    )
    recorder = Recorder(throttled, json_response(ACCEPTED, 202))
    httpserver.expect_request("/v2/alerts").respond_with_handler(recorder)
    og = adapter(httpserver)
    run = execute(og, og.render(intent()), sleep=sleeps)
    assert run.ok and run.outcome.status == "accepted"
    assert sleeps == [7.0] and len(recorder.requests) == 2
    assert [a.reason for a in run.attempts] == ["rateLimited", None]


def test_500_then_success(httpserver: HTTPServer, sleeps: Sleeps, rng) -> None:
    recorder = Recorder(json_response({"message": "Internal"}, 500), json_response(ACCEPTED, 202))
    httpserver.expect_request("/v2/alerts").respond_with_handler(recorder)
    og = adapter(httpserver)
    run = execute(og, og.render(intent()), sleep=sleeps, rng=rng)
    assert run.ok and len(recorder.requests) == 2 and len(sleeps) == 1 and 0 <= sleeps[0] <= 0.5
    assert recorder.requests[1]["headers"]["Authorization"] == f"GenieKey {KEY}"


def test_timeout_is_retried(httpserver: HTTPServer, sleeps: Sleeps) -> None:
    recorder = Recorder(slow(1.0, json_response(ACCEPTED, 202)), json_response(ACCEPTED, 202))
    httpserver.expect_request("/v2/alerts").respond_with_handler(recorder)
    og = adapter(httpserver, {"timeout": 0.2})
    run = execute(og, og.render(intent()), sleep=sleeps)
    assert run.ok and [a.reason for a in run.attempts] == ["timeout", None]
    assert len(recorder.requests) == 2 and len(sleeps) == 1


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def test_details_are_cut_to_the_8000_character_total(httpserver: HTTPServer) -> None:
    """Opsgenie documents ``details`` as at most 8000 characters in total. Before, an event with a long
    description or many labels produced a body over the limit (here 10,000 + 6,000 characters)."""
    recorder = Recorder(json_response(ACCEPTED, 202))
    httpserver.expect_request("/v2/alerts", method="POST").respond_with_handler(recorder)
    details = {"description": "d" * 10_000, "labels": {f"l{i}": "😀" * 60 for i in range(50)},
               "region": "eu-west-1"}
    og = adapter(httpserver)
    og.send(og.render(intent(details=details)))
    sent = recorder.bodies[0]["details"]
    assert sum(_units(k) + _units(v) for k, v in sent.items()) <= 8000
    assert sent["region"] == "eu-west-1"  # short values and the runbook URL are kept whole
    assert sent["link:Runbook"] == "https://runbooks.example.com/payment-api"
    assert sent["description"].startswith("d" * 3000) and sent["description"].endswith("…")
    full_labels = json.dumps(details["labels"], sort_keys=True)
    assert sent["labels"].endswith("…") and full_labels.startswith(sent["labels"][:-1])  # cut at a character


def test_small_details_are_unchanged() -> None:
    body = Opsgenie({}, {}).render(intent(details={"a": "x" * 7000})).body
    assert body["details"]["a"] == "x" * 7000
