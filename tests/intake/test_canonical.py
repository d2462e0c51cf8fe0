"""Canonical event files, lists and acknowledgements; schema errors as one line with pointers."""

from __future__ import annotations

import json

import pytest

from engine.intake import IntakeError, detect, parse
from engine.model.event import Acknowledgement, Event

EVENT = {
    "event_id": "evt-1",
    "timestamp": "2025-01-01T14:23:45Z",
    "service": "payment-api",
    "metrics": {"error_rate": 0.2},
    "conditions": {"service_unavailable": True},
}
ACK = {
    "type": "ack",
    "event_id": "ack-1",
    "incident_id": "inc-1",
    "by": "alice",
    "timestamp": "2025-01-01T14:30:00+01:00",
}


def body(doc) -> bytes:
    return json.dumps(doc).encode()


def schema_reason(doc) -> str:
    with pytest.raises(IntakeError) as info:
        parse(body(doc))
    assert info.value.code == "schema"
    assert "\n" not in info.value.reason
    return info.value.reason


def test_single_event_is_validated_as_is():
    (event,) = parse(body(EVENT))
    assert isinstance(event, Event)
    assert (event.event_id, event.service, event.status) == ("evt-1", "payment-api", "firing")
    assert event.metrics == {"error_rate": 0.2}
    assert event.conditions == {"service_unavailable": True}


def test_acknowledgement():
    (ack,) = parse(body(ACK))
    assert isinstance(ack, Acknowledgement)
    assert (ack.type, ack.incident_id, ack.by) == ("ack", "inc-1", "alice")


def test_list_of_events_and_acks_keeps_order():
    items = parse(body([EVENT, ACK, {**EVENT, "event_id": "evt-2", "status": "resolved"}]))
    assert [type(x).__name__ for x in items] == ["Event", "Acknowledgement", "Event"]
    assert items[2].status == "resolved"
    assert parse(b"[]") == []


def test_wrong_metric_type_gives_pointer_and_message():
    reason = schema_reason({**EVENT, "metrics": {"cpu": "high"}})
    assert (
        reason == "schema: /metrics/cpu: Input should be a valid number"
    )


def test_all_errors_on_one_line_joined_and_capped():
    doc = {**EVENT, "status": "open", "metrcis": {}, "timestamp": "yesterday"}
    reason = schema_reason(doc)
    assert reason.startswith("schema: ")
    assert "/status: Input should be 'firing' or 'resolved'" in reason
    assert "/metrcis: Extra inputs are not permitted" in reason
    assert "/timestamp: " in reason
    assert reason.count("; ") == 2
    many = {**EVENT, **{f"x{i}": 1 for i in range(8)}}
    assert schema_reason(many).endswith("; and 3 more")


def test_timestamp_without_offset_is_a_schema_error():
    assert "timestamp must be RFC 3339 with a UTC offset" in schema_reason(
        {**EVENT, "timestamp": "2025-01-01T00:00:00"}
    )


def test_list_errors_point_into_the_list():
    reason = schema_reason([EVENT, {**EVENT, "service": ""}, "nope"])
    assert reason.startswith("schema: /1/service: String should have at least 1 character")
    assert "/2: expected an object, got a string" in reason


def test_pointer_escapes_slash_and_tilde():
    reason = schema_reason({**EVENT, "metrics": {"a/b~c": "x"}})
    assert reason.startswith("schema: /metrics/a~1b~0c: key string should match pattern")
    assert "; /metrics/a~1b~0c: Input should be a valid number" in reason


def test_bad_ack_type_is_a_schema_error_for_ack():
    assert "/type: Input should be 'ack', 'resolve' or 'escalate'" in schema_reason({**ACK, "type": "acknowledge"})


def test_detected_as_canonical():
    assert detect(EVENT) == detect(ACK) == detect([EVENT]) == "canonical"


def test_long_invalid_list_stops_after_five_invalid_items():
    reason = schema_reason([1] * 100_000)
    assert reason.count("expected an object") == 5
    assert reason.endswith("; stopped after 5 invalid items of 100000")
