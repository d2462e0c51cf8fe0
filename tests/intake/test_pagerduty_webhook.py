"""PagerDuty webhook v3: acknowledged/resolved → Acknowledgement; other types are ignored."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from engine.intake import IntakeError, detect, parse
from engine.model.event import Acknowledgement


def test_acknowledged_incident(fixture_bytes):
    (ack,) = parse(fixture_bytes("pagerduty_webhook_v3_incident_acknowledged.json"))
    assert isinstance(ack, Acknowledgement)
    assert ack.type == "ack"
    assert ack.event_id == "pagerduty:01BZYK8N47N5JG55J1EEEHPEJI"
    assert ack.incident_id == "PQ1K5C8"  # no incident_key in this payload: PagerDuty's id
    assert ack.by == "PIG 208"
    assert ack.source == "pagerduty"
    assert ack.timestamp == datetime(2021, 6, 4, 13, 55, 30, 394000, tzinfo=UTC)
    assert ack.note == (
        "PagerDuty incident #10 PQ1K5C8: Test Incident (pig208) https://pig208.pagerduty.com/incidents/PQ1K5C8"
    )


def test_resolved_incident(fixture_bytes):
    (ack,) = parse(fixture_bytes("pagerduty_webhook_v3_incident_resolved.json"))
    assert (ack.type, ack.incident_id, ack.by) == ("resolve", "PCPZE64", "PIG 208")


def test_incident_key_is_preferred_because_it_is_our_dedup_key(fixture_doc):
    doc = fixture_doc("pagerduty_webhook_v3_incident_acknowledged.json")
    doc["event"]["data"]["incident_key"] = "inc-payment-api-42"
    assert parse(json.dumps(doc).encode())[0].incident_id == "inc-payment-api-42"


def test_missing_agent_is_attributed_to_pagerduty(fixture_doc):
    doc = fixture_doc("pagerduty_webhook_v3_incident_resolved.json")
    doc["event"]["agent"] = None
    assert parse(json.dumps(doc).encode())[0].by == "pagerduty"


@pytest.mark.parametrize(
    "name,kind",
    [
        ("pagerduty_webhook_v3_incident_triggered.json", "incident.triggered"),
        ("pagerduty_webhook_v3_incident_priority_updated_devdocs.json", "incident.priority_updated"),
    ],
)
def test_other_event_types_are_ignored_with_a_reason(fixture_bytes, name, kind):
    with pytest.raises(IntakeError) as info:
        parse(fixture_bytes(name))
    assert info.value.code == "ignored-webhook"
    assert kind in info.value.reason


def test_detected_as_pagerduty(fixture_doc):
    assert detect(fixture_doc("pagerduty_webhook_v3_incident_triggered.json")) == "pagerduty-webhook"
