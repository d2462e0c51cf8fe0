"""Datadog webhooks: real legacy Triggered/Recovered payloads and the ilert template."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from engine.intake import IntakeError, detect, parse

TRIGGERED = "datadog_webhook_legacy_triggered_real.json"
RECOVERED = "datadog_webhook_legacy_recovered_real.json"
TEMPLATE = "datadog_webhook_payload_template_ilert.json"


def test_triggered_payload(fixture_bytes):
    (event,) = parse(fixture_bytes(TRIGGERED))
    assert event.status == "firing"
    assert event.source == "datadog"
    assert event.service == "dock-is-almost-out-of-memory"  # no service tag: monitor name, slugged
    assert event.title == "[Triggered on {host:i-3b93aafb}] Dock is almost out of memory..."
    assert event.description.startswith("restart docker\n")
    assert "%%%" not in event.description
    assert event.event_id == "datadog:3089904566766935419"
    assert event.timestamp == datetime(2015, 11, 25, 7, 12, 10, tzinfo=UTC)
    assert event.labels["host"] == "i-3b93aafb"
    assert event.labels["role"] == "dock"
    assert event.labels["security-group"] == "sg-59a3503c,sg-cb8e7dae"
    assert event.labels["monitor"] == ""
    assert event.labels["datadog.event_type"] == "metric_alert_monitor"


def test_custom_secret_key_is_redacted(fixture_bytes):
    (event,) = parse(fixture_bytes(TRIGGERED))
    assert event.labels["datadog.secret"] == "<redacted>"
    assert "I_solemnly_swear" not in event.model_dump_json()


def test_recovered_payload_resolves_the_same_fingerprint(fixture_bytes):
    (triggered,) = parse(fixture_bytes(TRIGGERED))
    (recovered,) = parse(fixture_bytes(RECOVERED))
    assert recovered.status == "resolved"
    assert recovered.service == triggered.service
    assert recovered.fingerprint == triggered.fingerprint
    assert recovered.event_id == "datadog:3089903685627551077" != triggered.event_id
    assert recovered.title == "[Recovered on {host:i-3b93aafb}] Dock is almost out of memory..."


def test_redelivery_gives_the_same_event_id(fixture_bytes, fixture_doc):
    again = json.dumps(fixture_doc(TRIGGERED), indent=4).encode()
    assert parse(again)[0].event_id == parse(fixture_bytes(TRIGGERED))[0].event_id


def test_unrendered_template_is_rejected(fixture_bytes):
    with pytest.raises(IntakeError) as info:
        parse(fixture_bytes(TEMPLATE))
    assert info.value.code == "unrendered-template"
    assert "$ALERT_TRANSITION" in info.value.reason


def test_rendered_ilert_template_maps_priority_scope_and_cycle_key(fixture_doc):
    doc = fixture_doc(TEMPLATE)
    doc.update(
        body="%%%\nerror rate above 5%\n%%%",
        last_updated="1717509330000",
        event_type="query_alert_monitor",
        alert_transition="Triggered",
        alert_id="1234",
        link="https://app.datadoghq.com/event/event?id=42",
        title="[P1] [Triggered on {service:payment-api,env:staging}] Error rate high",
        date="1717509330000",
        org={"id": "1", "name": "Acme"},
        id="42",
        alert_priority="P1",
        alert_scope="service:payment-api,env:staging",
    )
    (event,) = parse(json.dumps(doc).encode())
    assert event.service == "payment-api"
    assert event.environment == "staging"
    assert event.description == "error rate above 5%"
    assert event.labels["severity"] == "critical"
    assert event.fingerprint == "datadog:1234:service:payment-api,env:staging"
    assert event.event_id == "datadog:42"
    assert event.timestamp == datetime(2024, 6, 4, 13, 55, 30, tzinfo=UTC)
    doc["alert_transition"] = "Recovered"
    assert parse(json.dumps(doc).encode())[0].status == "resolved"


def test_detected_as_datadog_not_canonical(fixture_doc):
    # the legacy payload has an "event_id" key, like a canonical event
    assert detect(fixture_doc(TRIGGERED)) == "datadog"
