"""failover adapter against moto (in-process AWS) with a real Route 53 hosted zone."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from adapter_kit import Calls
from moto import mock_aws

from actions import aws
from actions.base import ActionFailed, Intent
from actions.failover import Failover
from actions.retry import execute

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "vendor"
ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Calls:
    for var in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(var, raising=False)
    recorder = Calls()
    monkeypatch.setattr(aws, "client", recorder.client)
    return recorder


@pytest.fixture(scope="module")
def route53() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("route53", region_name="us-east-1")


def change(client: Any, zone: str, action: str, record_set: dict[str, Any]) -> None:
    batch = {"Changes": [{"Action": action, "ResourceRecordSet": record_set}]}
    client.change_resource_record_sets(HostedZoneId=zone, ChangeBatch=batch)


@pytest.fixture
def zone(route53: Any, calls: Calls) -> str:
    """A fresh example.com. zone where api.example.com is a CNAME to the primary."""
    created = route53.create_hosted_zone(Name="example.com.", CallerReference=str(uuid.uuid4()))
    zone_id = created["HostedZone"]["Id"].split("/")[-1]
    change(route53, zone_id, "CREATE", {"Name": "api.example.com.", "Type": "CNAME", "TTL": 300,
                                        "ResourceRecords": [{"Value": "primary.example.com"}]})
    return zone_id


def values(client: Any, zone_id: str, name: str, kind: str) -> list[str]:
    sets = client.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    return [r["Value"] for s in sets if s["Name"] == name and s["Type"] == kind for r in s["ResourceRecords"]]


def intent(params: dict[str, Any], service: str = "payment-api", incident: str = "INC-5") -> Intent:
    return Intent(action="failover", kind="remediate", incident_id=incident, event_id="ev-5",
                  severity="CRITICAL", service=service, params=params)


def test_upserts_the_record_to_the_secondary_and_verifies(route53: Any, zone: str, calls: Calls) -> None:
    adapter = Failover({}, ENV)
    assert adapter.configured() is None
    params = {"zone_id": zone, "record": "api.example.com.", "type": "CNAME", "to": "secondary.example.com"}
    outcome = adapter.send(adapter.render(intent(params)))
    assert values(route53, zone, "api.example.com.", "CNAME") == ["secondary.example.com"]
    assert outcome.status == "ok"  # moto answers INSYNC
    assert outcome.response["previous"] == ["primary.example.com"] and outcome.response["changed"] is True
    assert outcome.memo == {"failover_previous": ["primary.example.com"]}
    assert calls.names() == [
        "ListResourceRecordSets", "ChangeResourceRecordSets", "GetChange", "ListResourceRecordSets"
    ]
    assert calls.made[1][1] == {
        "HostedZoneId": zone,
        "ChangeBatch": {
            "Comment": "escalation-handlers failover for incident INC-5",
            "Changes": [{"Action": "UPSERT", "ResourceRecordSet": {
                "Name": "api.example.com.", "Type": "CNAME", "TTL": 60,
                "ResourceRecords": [{"Value": "secondary.example.com"}]}}],
        },
    }


def test_running_twice_makes_no_second_change(route53: Any, zone: str, calls: Calls) -> None:
    adapter = Failover({}, ENV)
    params = {"zone_id": f"/hostedzone/{zone}", "record": "API.example.com", "to": "secondary.example.com."}
    first = execute(adapter, adapter.render(intent(params)), sleep=lambda s: None)
    second = execute(adapter, adapter.render(intent(params, incident="INC-6")), sleep=lambda s: None)
    assert first.ok and second.ok and second.outcome is not None
    assert second.outcome.response["changed"] is False and "nothing changed" in second.outcome.detail
    assert calls.names().count("ChangeResourceRecordSets") == 1
    assert values(route53, zone, "api.example.com.", "CNAME") == ["secondary.example.com."]


def test_a_record_from_config_mapping_with_params_overriding(route53: Any, zone: str, calls: Calls) -> None:
    change(route53, zone, "CREATE", {"Name": "db.example.com.", "Type": "A", "TTL": 60,
                                     "ResourceRecords": [{"Value": "192.0.2.44"}]})
    config = {"records": {"payments-db": {"zone_id": zone, "record": "db.example.com.", "type": "A",
                                          "to": ["192.0.2.45", "192.0.2.46"], "ttl": 30}}}
    adapter = Failover(config, ENV)
    outcome = adapter.send(adapter.render(intent({"ttl": 10}, service="payments-db")))
    assert sorted(values(route53, zone, "db.example.com.", "A")) == ["192.0.2.45", "192.0.2.46"]
    assert outcome.response["previous"] == ["192.0.2.44"]
    assert calls.made[1][1]["ChangeBatch"]["Changes"][0]["ResourceRecordSet"]["TTL"] == 10
    again = adapter.send(adapter.render(intent({"to": ["192.0.2.46", "192.0.2.45"]}, service="payments-db")))
    assert again.response["changed"] is False  # same addresses in another order


def test_missing_record_is_created(route53: Any, zone: str) -> None:
    adapter = Failover({}, ENV)
    params = {"zone_id": zone, "record": "new.example.com.", "to": "secondary.example.com"}
    outcome = adapter.send(adapter.render(intent(params)))
    assert outcome.response["previous"] is None
    assert values(route53, zone, "new.example.com.", "CNAME") == ["secondary.example.com"]


def test_routing_policy_records_from_the_fixture_are_refused(route53: Any, zone: str, calls: Calls) -> None:
    fixture = FIXTURES / "aws_route53_change_resource_record_sets_failover_botocore_example.json"
    for item in json.loads(fixture.read_text())["input"]["ChangeBatch"]["Changes"]:  # PRIMARY and SECONDARY
        change(route53, zone, item["Action"], {**item["ResourceRecordSet"], "Name": "example.com."})
    adapter = Failover({}, ENV)
    run = execute(adapter, adapter.render(intent({"zone_id": zone, "record": "example.com", "type": "A",
                                                  "to": "192.0.2.45"})), sleep=lambda s: None)
    assert not run.ok and len(run.attempts) == 1 and run.attempts[0].reason == "clientError"
    assert "routing policy" in run.attempts[0].detail
    assert "ChangeResourceRecordSets" not in calls.names()


def test_prior_request_not_complete_is_retried_and_changes_once(route53: Any, zone: str, calls: Calls) -> None:
    calls.fail = {1: "PriorRequestNotComplete"}
    adapter = Failover({}, ENV)
    params = {"zone_id": zone, "record": "api.example.com.", "to": "secondary.example.com"}
    slept: list[float] = []
    run = execute(adapter, adapter.render(intent(params)), sleep=slept.append)
    assert run.ok and [a.reason for a in run.attempts] == ["rateLimited", None] and len(slept) == 1
    assert values(route53, zone, "api.example.com.", "CNAME") == ["secondary.example.com"]


def test_unknown_zone_is_a_permanent_client_error(route53: Any, calls: Calls) -> None:
    adapter = Failover({}, ENV)
    params = {"zone_id": "ZNOSUCHZONE1", "record": "api.example.com.", "to": "secondary.example.com"}
    run = execute(adapter, adapter.render(intent(params)), sleep=lambda s: None)
    assert len(run.attempts) == 1 and run.attempts[0].reason == "clientError"
    assert "NoSuchHostedZone" in run.attempts[0].detail


@pytest.mark.parametrize(
    "params",
    [
        {"record": "api.example.com.", "to": "s.example.com"},  # no zone
        {"zone_id": "Z1; rm -rf /", "record": "api.example.com.", "to": "s.example.com"},
        {"zone_id": "Z1", "record": "api example.com", "to": "s.example.com"},
        {"zone_id": "Z1", "record": "api.example.com.", "to": "s.example.com\nevil"},
        {"zone_id": "Z1", "record": "api.example.com.", "to": ["a.example.com", "b.example.com"]},
        {"zone_id": "Z1", "record": "api.example.com.", "type": "A", "to": "s.example.com"},
        {"zone_id": "Z1", "record": "api.example.com.", "type": "A", "to": "2001:db8::1"},
        {"zone_id": "Z1", "record": "api.example.com.", "type": "MX", "to": "s.example.com"},
        {"zone_id": "Z1", "record": "api.example.com.", "to": "s.example.com", "ttl": -1},
        {"zone_id": "Z1", "record": "api.example.com."},
    ],
)
def test_invalid_params_are_rejected_in_render(params: dict[str, Any]) -> None:
    with pytest.raises(ActionFailed) as info:
        Failover({}, ENV).render(intent(params))
    assert info.value.reason == "clientError" and not info.value.retryable


def test_unconfigured_without_credentials() -> None:
    adapter = Failover({}, {})
    assert adapter.configured().startswith("AWS_ACCESS_KEY_ID is not set")
    assert Failover({}, {"AWS_PROFILE": "ops"}).configured() is None  # Route 53 needs no region
    with pytest.raises(ActionFailed) as info:
        adapter.send(adapter.render(intent({"zone_id": "Z1", "record": "a.example.com", "to": "b.example.com"})))
    assert info.value.reason == "authError" and not info.value.retryable
