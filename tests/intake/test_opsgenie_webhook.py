"""Opsgenie Webhook integration: Acknowledge/Close → Acknowledgement; other actions are ignored."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from engine.intake import IntakeError, detect, parse
from engine.model.event import Acknowledgement


def test_acknowledge_action(fixture_bytes):
    (ack,) = parse(fixture_bytes("opsgenie_webhook_acknowledge.json"))
    assert isinstance(ack, Acknowledgement)
    assert ack.type == "ack"
    assert ack.event_id == "opsgenie:052652ac-5d1c-464a-812a-7dd18bbfba8c:acknowledge:1420452224764002246"
    assert ack.incident_id == "aliastest"  # the alias: what our opsgenie action sets to the incident key
    assert ack.refs == ("052652ac-5d1c-464a-812a-7dd18bbfba8c", "23")
    assert ack.by == "fili@ifountain.com"
    assert ack.source == "opsgenie"
    # updatedAt is in nanoseconds: 1420452224.764002246 s
    assert ack.timestamp == datetime(2015, 1, 5, 10, 3, 44, 764002, tzinfo=UTC)
    assert ack.note == "Opsgenie alert #23 052652ac-5d1c-464a-812a-7dd18bbfba8c: test alert (via web)"


def test_close_action_is_a_resolve_with_its_own_event_id(fixture_bytes):
    (ack,) = parse(fixture_bytes("opsgenie_webhook_close.json"))
    assert (ack.type, ack.incident_id, ack.by) == ("resolve", "aliastest", "fili@ifountain.com")
    assert ack.event_id.endswith(":close:1420452374669001603")


def test_redelivery_keeps_the_event_id(fixture_bytes):
    first, again = (parse(fixture_bytes("opsgenie_webhook_acknowledge.json"))[0] for _ in range(2))
    assert first.event_id == again.event_id


def test_no_username_falls_back_to_user_id_then_opsgenie(fixture_doc):
    doc = fixture_doc("opsgenie_webhook_acknowledge.json")
    del doc["alert"]["username"]
    assert parse(json.dumps(doc).encode())[0].by == "daed1180-0ce8-438b-8f8e-57e1a5920a2d"
    del doc["alert"]["userId"]
    assert parse(json.dumps(doc).encode())[0].by == "opsgenie"


def test_without_updated_at_the_created_time_in_milliseconds_is_used(fixture_doc):
    doc = fixture_doc("opsgenie_webhook_acknowledge.json")
    del doc["alert"]["updatedAt"]
    (ack,) = parse(json.dumps(doc).encode())
    assert ack.timestamp == datetime(2015, 1, 5, 10, 3, 11, 104000, tzinfo=UTC)


def test_an_alert_with_neither_alias_nor_id_is_a_schema_error(fixture_doc):
    doc = fixture_doc("opsgenie_webhook_acknowledge.json")
    del doc["alert"]["alias"], doc["alert"]["alertId"]
    with pytest.raises(IntakeError) as info:
        parse(json.dumps(doc).encode())
    assert info.value.code == "schema"
    assert "/alert/alias" in info.value.reason


@pytest.mark.parametrize("action", ["Create", "UnAcknowledge", "AddNote", "Escalate", "TakeOwnership"])
def test_other_actions_are_ignored_with_a_reason(fixture_doc, action):
    doc = fixture_doc("opsgenie_webhook_acknowledge.json")
    doc["action"] = action
    with pytest.raises(IntakeError) as info:
        parse(json.dumps(doc).encode())
    assert info.value.code == "ignored-webhook"
    assert action in info.value.reason


def test_detected_as_opsgenie(fixture_doc):
    assert detect(fixture_doc("opsgenie_webhook_close.json")) == "opsgenie-webhook"
    # a canonical ack with an "alert" key is still canonical: no integration fields
    assert detect({"type": "ack", "event_id": "a", "alert": {}, "action": "x"}) == "canonical"
