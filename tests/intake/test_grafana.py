"""Grafana unified-alerting webhook → one Event per alert; ``values`` become metrics."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

from engine.intake import detect, parse

DOCS = "grafana_alerting_webhook_firing_docs.json"
V12 = "grafana_alerting_webhook_v12_test_alert_keep.json"


def test_documented_payload_gives_two_firing_events(fixture_bytes):
    memory, cpu = parse(fixture_bytes(DOCS))
    assert memory.status == cpu.status == "firing"
    assert memory.source == "grafana"
    assert memory.service == "high-memory-usage"
    assert cpu.service == "high-cpu-usage"
    assert memory.title == "This alert was triggered for zone us-1"
    assert memory.description == "The system has high memory usage"
    assert memory.fingerprint == "c6eadffa33fcdf37"
    assert cpu.fingerprint == "bc97ff14869b13e3"
    assert memory.runbook_url == "https://myrunbook.com/runbook/1234"
    assert memory.metrics == {"B": 44.23943737541908, "C": 1.0}
    assert memory.timestamp == datetime(2021, 10, 12, 9, 51, 3, 157076, tzinfo=timezone(timedelta(hours=2)))
    assert memory.labels["team"] == "blue" and memory.labels["zone"] == "us-1"
    assert memory.labels["grafana.silenceURL"].startswith("https://play.grafana.org/alerting/silence/")
    assert memory.labels["grafana.orgId"] == "1"
    assert "grafana.dashboardURL" not in memory.labels  # empty in the payload
    assert memory.event_id.startswith("grafana:c6eadffa33fcdf37:")


def test_grafana12_test_alert(fixture_bytes):
    (event,) = parse(fixture_bytes(V12))
    assert event.service == "TestAlert"
    assert event.title == "TEST"
    assert event.description == "Test Description"
    assert event.fingerprint == "c4edaaf9f9f839b0"
    assert event.metrics == {"B": 22.0, "C": 1.0}
    assert event.timestamp == datetime(2026, 5, 5, 13, 4, 57, 622813, tzinfo=UTC)
    assert event.labels["grafana.generatorURL"] == "?orgId=1"
    assert event.labels["grafana.valueString"] == "[ var='B' value=22 ]"
    assert event.labels["grafana.appVersion"] == "12.4.2"


def test_resolved_and_redelivered(fixture_bytes, fixture_doc):
    doc = fixture_doc(V12)
    doc["alerts"][0].update(status="resolved", endsAt="2026-05-05T13:09:57Z")
    firing = parse(fixture_bytes(V12))[0]
    resolved = parse(json.dumps(doc).encode())[0]
    assert resolved.status == "resolved"
    assert resolved.fingerprint == firing.fingerprint
    assert resolved.event_id == firing.event_id + ":resolved:2026-05-05T13:09:57Z"
    assert parse(fixture_bytes(V12))[0].event_id == firing.event_id


def test_non_numeric_values_are_labels_not_metrics(fixture_doc):
    doc = fixture_doc(V12)
    doc["alerts"][0]["values"] = {"B": "n/a", "C": 3}
    event = parse(json.dumps(doc).encode())[0]
    assert event.metrics == {"C": 3.0}
    assert event.labels["grafana.values"] == '{"B":"n/a"}'


def test_detected_as_grafana_not_alertmanager(fixture_doc):
    assert detect(fixture_doc(DOCS)) == "grafana"
    assert detect(fixture_doc(V12)) == "grafana"
