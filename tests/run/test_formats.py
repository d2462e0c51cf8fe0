"""Real vendor payloads through the daemon: each supported format is decided, resolved alerts too."""

from __future__ import annotations

import json
import os

import pytest
from daemon_kit import FIXTURES, REPO, drop

VENDOR = [
    "alertmanager_webhook_v4_firing_zulip.json",
    "grafana_alerting_webhook_firing_docs.json",
    "grafana_alerting_webhook_v12_test_alert_keep.json",
    "aws_sns_http_notification_docs.json",
    "datadog_webhook_legacy_triggered_real.json",
    "datadog_webhook_legacy_recovered_real.json",
]
ACKS = ["pagerduty_webhook_v3_incident_acknowledged.json", "pagerduty_webhook_v3_incident_resolved.json",
        "opsgenie_webhook_acknowledge.json", "opsgenie_webhook_close.json"]


def _name_incident(doc: dict, incident: str) -> None:
    """What the vendor sends for an alert our action opened: our key as PagerDuty's incident_key or
    as Opsgenie's alias."""
    if "event" in doc:
        doc["event"]["data"]["incident_key"] = incident
    else:
        doc["alert"]["alias"] = incident


def _events(daemon) -> list[tuple[str, str, str]]:
    return daemon.audit.conn.execute("SELECT event_id, source, status FROM events ORDER BY event_id").fetchall()


@pytest.mark.parametrize("name", sorted(p.name for p in (REPO / "sample-events" / "formats").glob("*.json")))
def test_sample_format_files_are_decided(make_daemon, name: str) -> None:
    daemon = make_daemon()
    drop(daemon.spool.incoming, name, (REPO / "sample-events" / "formats" / name).read_bytes())
    stats = daemon.run_once()
    assert stats.failed == 0 and stats.decided >= 1
    assert os.listdir(daemon.spool.done) == [name]


@pytest.mark.parametrize("name", VENDOR)
def test_vendor_fixture_is_decided(make_daemon, name: str) -> None:
    path = FIXTURES / name
    if not path.is_file():
        pytest.skip(f"fixture {path} not present")
    daemon = make_daemon()
    drop(daemon.spool.incoming, name, path.read_bytes())
    stats = daemon.run_once()
    assert stats.failed == 0, json.loads((daemon.spool.failed / f"{name}.reason.json").read_text())
    assert stats.decided >= 1
    assert daemon.audit.count("decisions") == stats.decided


def test_alertmanager_resolved_alert_is_recorded_as_resolved(make_daemon) -> None:
    doc = json.loads((FIXTURES / "alertmanager_webhook_v4_firing_zulip.json").read_text())
    daemon = make_daemon()
    drop(daemon.spool.incoming, "1-firing.json", doc)
    resolved = {**doc, "status": "resolved",
                "alerts": [{**a, "status": "resolved", "endsAt": "2030-01-01T00:00:00Z"} for a in doc["alerts"]]}
    drop(daemon.spool.incoming, "2-resolved.json", resolved)
    daemon.run_once()
    statuses = [row[2] for row in _events(daemon)]
    assert "resolved" in statuses and "firing" in statuses
    assert sorted(os.listdir(daemon.spool.done)) == ["1-firing.json", "2-resolved.json"]


def test_datadog_recovered_is_a_resolve(make_daemon) -> None:
    daemon = make_daemon()
    drop(daemon.spool.incoming, "dd.json", (FIXTURES / "datadog_webhook_legacy_recovered_real.json").read_bytes())
    daemon.run_once()
    assert [row[2] for row in _events(daemon)] == ["resolved"]


@pytest.mark.parametrize("name", ACKS)
def test_vendor_acknowledgements_of_no_incident_here_are_refused_and_counted(make_daemon, name: str) -> None:
    daemon = make_daemon()  # an empty log: PagerDuty's PQ1K5C8 / PCPZE64, Opsgenie's "aliastest" name nothing
    drop(daemon.spool.incoming, name, (FIXTURES / name).read_bytes())
    stats = daemon.run_once()
    assert stats.failed == 1 and stats.decided == 0
    assert json.loads((daemon.spool.failed / f"{name}.reason.json").read_text())["code"] == "unmatched-ack"
    assert daemon.audit.count("intake", "outcome = 'failed' AND code = 'unmatched-ack'") == 1
    assert b'escalation_intake_failures_total{code="unmatched-ack"} 1.0' in daemon.metrics.render()


@pytest.mark.parametrize("name", ACKS)
def test_vendor_acknowledgements_of_our_incident_are_accepted_without_a_decision(make_daemon, name: str) -> None:
    from daemon_kit import event

    daemon = make_daemon()
    drop(daemon.spool.incoming, "1-e.json", json.dumps(event(1)).encode())
    daemon.run_once()
    doc = json.loads((FIXTURES / name).read_bytes())
    _name_incident(doc, "E000001")
    drop(daemon.spool.incoming, "2-" + name, json.dumps(doc).encode())
    stats = daemon.run_once()
    assert stats.done == 1 and stats.decided == 0
    assert daemon.audit.incident_updates("E000001")[0]["source"] == name.split("_")[0]


@pytest.mark.parametrize(("name", "code"), [
    ("aws_sns_subscription_confirmation_real.json", "sns-subscription-confirmation"),
    ("datadog_webhook_payload_template_ilert.json", "unrendered-template"),  # the template, not a delivery
])
def test_vendor_payloads_that_are_not_alerts_fail_with_their_code(make_daemon, name: str, code: str) -> None:
    daemon = make_daemon()
    drop(daemon.spool.incoming, name, (FIXTURES / name).read_bytes())
    daemon.run_once()
    assert json.loads((daemon.spool.failed / f"{name}.reason.json").read_text())["code"] == code


def test_events_are_decided_in_timestamp_order_within_a_batch(make_daemon) -> None:
    from daemon_kit import event

    daemon = make_daemon()
    # names (arrival order) deliberately opposite to the event timestamps
    for i, minute in enumerate([50, 40, 30, 20, 10]):
        drop(daemon.spool.incoming, f"{i}.json", event(i, service="checkout", ts=f"2025-01-01T00:{minute}:00Z"))
    daemon.run_once()
    rows = daemon.audit.conn.execute("SELECT timestamp FROM events ORDER BY rowid").fetchall()
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)
