"""Alertmanager v4 webhook → one Event per alert (real payload from zulip/zulip)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from engine.intake import detect, parse
from engine.model.event import Event

NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)

FIRING = "alertmanager_webhook_v4_firing_zulip.json"


def resolved_copy(doc: dict) -> bytes:
    doc = json.loads(json.dumps(doc))
    doc["status"] = "resolved"
    for alert in doc["alerts"]:
        alert["status"] = "resolved"
        alert["endsAt"] = "2020-02-06T00:27:58.432911368Z"
    return json.dumps(doc).encode()


def test_firing_group_gives_one_event_per_alert(fixture_bytes):
    events = parse(fixture_bytes(FIRING), now=NOW)
    assert [type(e) for e in events] == [Event, Event]
    first, second = events
    assert first.status == "firing"
    assert first.source == "alertmanager"
    assert first.service == "high-cpu-temperature"  # no service/job label: alertname, slugged
    assert first.environment == "production"
    assert first.title == "High CPU core temperature"
    assert first.description == "CPU core temperature is 34.75C"
    assert first.fingerprint == "a1bc48475b20e73d"
    assert second.fingerprint == "c2ea85182f28cbd9"
    assert first.timestamp == datetime(2020, 2, 6, 0, 17, 58, 432911, tzinfo=UTC)
    assert first.event_id.startswith("alertmanager:a1bc48475b20e73d:")
    assert first.event_id != second.event_id
    assert first.metrics == {} and first.conditions == {}
    assert first.labels["alertname"] == "High CPU Temperature"
    assert first.labels["severity"] == "critical"
    assert first.labels["host"] == "andromeda"
    assert first.labels["annotation.topic"] == "andromeda"
    assert first.labels["alertmanager.receiver"] == "ops-zulip"
    assert first.labels["alertmanager.generatorURL"].startswith("http://cobalt:9090/graph?")


def test_redelivery_gives_the_same_event_ids(fixture_bytes, fixture_doc):
    once = [e.event_id for e in parse(fixture_bytes(FIRING))]
    again = [e.event_id for e in parse(json.dumps(fixture_doc(FIRING), indent=1).encode())]
    assert once == again


def test_resolved_alert_keeps_fingerprint_and_gets_a_distinct_id(fixture_bytes, fixture_doc):
    firing = parse(fixture_bytes(FIRING))[0]
    resolved = parse(resolved_copy(fixture_doc(FIRING)))[0]
    assert resolved.status == "resolved"
    assert resolved.fingerprint == firing.fingerprint
    assert resolved.event_id == firing.event_id + ":resolved:2020-02-06T00:27:58.432911368Z"
    assert resolved.timestamp == datetime(2020, 2, 6, 0, 27, 58, 432911, tzinfo=UTC)


def test_label_conventions_map_service_env_value_and_conditions(fixture_doc):
    doc = fixture_doc(FIRING)
    alert = doc["alerts"][0]
    alert["labels"].update(
        {
            "job": "node",
            "service": "payment-api",
            "env": "staging",
            "metric": "error_rate",
            "condition": "service_unavailable, partial_outage",
        }
    )
    alert["annotations"].update({"value": "0.25", "runbook_url": "https://runbooks/x"})
    event = parse(json.dumps(doc).encode())[0]
    assert event.service == "payment-api"
    assert event.environment == "staging"
    assert event.metrics == {"error_rate": 0.25}
    assert event.conditions == {"service_unavailable": True, "partial_outage": True}
    assert event.runbook_url == "https://runbooks/x"


def test_a_value_annotation_that_is_not_a_number_stays_a_label(fixture_doc):
    # "nothing is dropped silently": it used to vanish (neither a metric nor a label)
    doc = fixture_doc(FIRING)
    doc["alerts"][0]["annotations"]["value"] = "34.75C"
    doc["alerts"][1]["annotations"]["value"] = "17.625"
    first, second = parse(json.dumps(doc).encode())
    assert first.metrics == {} and first.labels["annotation.value"] == "34.75C"
    assert second.metrics == {"value": 17.625} and "annotation.value" not in second.labels


def test_job_is_the_service_when_there_is_no_service_label(fixture_doc):
    doc = fixture_doc(FIRING)
    doc["alerts"][0]["labels"]["job"] = "node-exporter"
    assert parse(json.dumps(doc).encode())[0].service == "node-exporter"


def test_missing_fingerprint_and_times_still_make_a_valid_event(fixture_doc):
    doc = fixture_doc(FIRING)
    for key in ("fingerprint", "startsAt", "endsAt"):
        del doc["alerts"][0][key]
    event = parse(json.dumps(doc).encode(), now=NOW)[0]
    assert event.timestamp == NOW
    assert event.fingerprint.startswith("labels-")
    assert event.fingerprint == parse(json.dumps(doc).encode(), now=NOW)[0].fingerprint


def test_detected_as_alertmanager(fixture_doc):
    assert detect(fixture_doc(FIRING)) == "alertmanager"


def test_a_superscript_digit_is_not_an_epoch_timestamp():
    # found by the fuzz test: "²".isdigit() is True, int("²") raises
    doc = {"version": "4", "alerts": [{"labels": {}, "annotations": {}, "startsAt": "\u00b2"}]}
    now = datetime(2025, 1, 1, tzinfo=UTC)
    (event,) = parse(json.dumps(doc).encode(), now=now)
    assert event.timestamp == now
