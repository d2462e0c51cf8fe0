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
    # the scope in the title, read after the "[P1]" priority prefix (it was the alert_scope form before)
    assert event.fingerprint == "datadog:1234:{service:payment-api,env:staging}"
    assert event.event_id == "datadog:42"
    assert event.timestamp == datetime(2024, 6, 4, 13, 55, 30, tzinfo=UTC)
    doc["alert_transition"] = "Recovered"
    assert parse(json.dumps(doc).encode())[0].status == "resolved"


def default_template(payload: bytes) -> bytes:
    """The real payload with only the keys of Datadog's default template (no ``alert_transition``)."""
    doc = json.loads(payload)
    del doc["alert_transition"], doc["event_tags"], doc["secret"]
    return json.dumps(doc).encode()


def test_default_template_recovery_is_resolved_from_the_title(fixture_bytes):
    # Datadog's default body has no $ALERT_TRANSITION and no $ALERT_TYPE: only $EVENT_TITLE,
    # "[Recovered on {host:…}] …", says that the monitor recovered.
    (triggered,) = parse(default_template(fixture_bytes(TRIGGERED)))
    (recovered,) = parse(default_template(fixture_bytes(RECOVERED)))
    assert triggered.status == "firing"
    assert recovered.status == "resolved"
    assert recovered.fingerprint == triggered.fingerprint


def test_default_template_with_a_priority_prefix_is_resolved_too(fixture_bytes):
    doc = json.loads(default_template(fixture_bytes(RECOVERED)))
    doc["title"] = "[P1] " + doc["title"]
    (recovered,) = parse(json.dumps(doc).encode())
    assert recovered.status == "resolved"
    assert recovered.service == "dock-is-almost-out-of-memory"


def test_alert_type_and_priority_values_are_not_dropped(fixture_bytes):
    # Values that map to no severity/status used to vanish (read, then neither mapped nor kept).
    doc = json.loads(fixture_bytes(TRIGGERED))
    doc.update(alert_type="success", priority="normal")  # success is ignored: alert_transition decides
    (event,) = parse(json.dumps(doc).encode())
    assert event.status == "firing" and "severity" not in event.labels
    assert event.labels["datadog.alert_type"] == "success"
    assert event.labels["datadog.priority"] == "normal"


def test_alert_type_still_decides_without_a_transition(fixture_bytes):
    doc = json.loads(default_template(fixture_bytes(RECOVERED)))
    doc["alert_type"] = "error"  # an explicit alert type wins over the title's word
    assert parse(json.dumps(doc).encode())[0].status == "firing"


def prioritized(fixture_doc, transition: str, scope: str, delivery: str, **extra: str) -> bytes:
    """The default template's keys, rendered for a monitor with a priority: the title starts with "[P2] "."""
    doc = fixture_doc(TEMPLATE)
    for key in ("alert_id", "link"):
        del doc[key]
    doc.update(
        alert_transition=transition,
        body="%%%\nerror rate above 5%\n%%%",
        last_updated="1717509330000",
        event_type="query_alert_monitor",
        title=f"[P2] [{transition} on {scope}] Error rate high",
        date="1717509330000",
        org={"id": "1", "name": "Acme"},
        id=delivery,
        **extra,
    )
    return json.dumps(doc).encode()


def test_priority_prefix_in_title_keeps_trigger_and_recovery_together(fixture_doc):
    # No alert_id/alert_cycle_key/alert_scope: the fingerprint and the service come from the title's
    # monitor name and scope, which the "[P2] " prefix must not shift.
    (triggered,) = parse(prioritized(fixture_doc, "Triggered", "{host:a}", "1"))
    (recovered,) = parse(prioritized(fixture_doc, "Recovered", "{host:a}", "2"))
    assert (triggered.status, recovered.status) == ("firing", "resolved")
    assert triggered.service == recovered.service == "error-rate-high"
    assert recovered.fingerprint == triggered.fingerprint


def test_priority_prefix_in_title_keeps_the_scope_of_a_multi_alert(fixture_doc):
    # With alert_id but no alert_scope, the title's scope is what tells host a from host b.
    (host_a,) = parse(prioritized(fixture_doc, "Triggered", "{host:a}", "1", alert_id="1234"))
    (host_b,) = parse(prioritized(fixture_doc, "Triggered", "{host:b}", "2", alert_id="1234"))
    assert host_a.fingerprint == "datadog:1234:{host:a}"
    assert host_b.fingerprint == "datadog:1234:{host:b}"


def test_detected_as_datadog_not_canonical(fixture_doc):
    # the legacy payload has an "event_id" key, like a canonical event
    assert detect(fixture_doc(TRIGGERED)) == "datadog"
