"""Multi-alert bodies as real Alertmanager stacks send them: one bad alert, a big group, a re-send whose
annotations changed, services named in other scripts, more labels than the cap."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from engine.intake import IntakeError, Quarantined, parse
from engine.intake.normalize import MAX_LABELS, keeping
from engine.model.event import Event

NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


def alert(n: int, **labels: str) -> dict:
    return {"status": "firing", "labels": {"alertname": "Down", "service": "payment-api", "instance": f"h{n}",
                                           **labels},
            "annotations": {"summary": f"payment-api down on h{n}"}, "startsAt": "2025-01-01T11:59:00Z",
            "endsAt": "0001-01-01T00:00:00Z", "fingerprint": f"fp{n:04d}",
            "generatorURL": "http://prometheus:9090/graph?g0.expr=up%3D%3D0&g0.tab=1" + "x" * 400}


def group(alerts: list, **extra: object) -> bytes:
    return json.dumps({"version": "4", "groupKey": '{}:{service="payment-api"}', "status": "firing",
                       "receiver": "escalation", "groupLabels": {"service": "payment-api"},
                       "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://am:9093",
                       "alerts": alerts, **extra}).encode()


def test_a_bad_alert_is_quarantined_and_the_others_are_kept():
    bad = alert(2)
    bad["labels"].update({f"x{i}": "" for i in range(3)})
    bad["annotations"]["condition"] = ",".join(f"c{i}" for i in range(70))  # 70 conditions: over the 64 cap
    items = parse(group([alert(1), bad, alert(3, severity="critical")]), now=NOW, quarantine=True)
    assert [type(i) for i in items] == [Event, Quarantined, Event]
    q = items[1]
    assert q.where == "/alerts/1" and q.code == "schema" and q.outcome == "quarantined"
    assert q.reason.startswith("schema: /alerts/1: /conditions:")
    assert json.loads(q.raw)["fingerprint"] == "fp0002"  # the alert itself, kept for failed/


def test_without_quarantine_one_bad_alert_still_rejects_the_body():
    with pytest.raises(IntakeError) as info:
        parse(group([alert(1), "not an alert"]), now=NOW)
    assert info.value.code == "schema" and "/alerts/1: expected an object" in info.value.reason


def test_a_group_over_the_per_event_limit_keeps_every_alert():
    body = group([alert(n) for n in range(2000)])
    assert len(body) > 1_048_576  # ~570 bytes an alert, as Prometheus' generatorURL makes them
    items = parse(body, now=NOW, max_bytes=32 * 1_048_576, max_item_bytes=1_048_576, quarantine=True)
    assert len(items) == 2000 and all(isinstance(i, Event) for i in items)
    assert len({i.event_id for i in items}) == 2000


def test_an_alert_over_the_per_event_limit_is_quarantined_alone():
    huge = alert(1)
    huge["annotations"]["description"] = "d" * 5000
    items = parse(group([huge, alert(2)]), now=NOW, max_item_bytes=4000, quarantine=True)
    assert isinstance(items[0], Quarantined) and items[0].code == "too-large"
    assert "/alerts/0: alert is" in items[0].reason and "the limit per event is 4000" in items[0].reason
    assert isinstance(items[1], Event)


def test_the_body_limit_still_refuses_the_whole_body():
    with pytest.raises(IntakeError) as info:
        parse(group([alert(n) for n in range(10)]), now=NOW, max_bytes=1000, quarantine=True)
    assert info.value.code == "too-large"


def test_max_alerts_truncation_is_a_notice_not_only_a_label():
    items = parse(group([alert(1)], truncatedAlerts=7), now=NOW, quarantine=True)
    notice = items[0]
    assert isinstance(notice, Quarantined) and notice.outcome == "truncated" and notice.code == "truncated-alerts"
    assert "left 7 alerts" in notice.reason and "max_alerts" in notice.reason
    assert isinstance(items[1], Event)


def test_a_changed_resend_gets_a_new_event_id_and_a_redelivery_the_same():
    before = alert(1)
    before["annotations"]["value"] = "0.02"
    after = json.loads(json.dumps(before))
    after["annotations"]["value"] = "0.30"
    first = parse(group([before]), now=NOW)[0]
    redelivered = parse(group([json.loads(json.dumps(before))]), now=NOW)[0]
    changed = parse(group([after]), now=NOW)[0]
    assert first.event_id == redelivered.event_id
    assert changed.event_id != first.event_id and changed.fingerprint == first.fingerprint
    assert changed.metrics == {"value": 0.30}


@pytest.mark.parametrize(("label", "service"), [
    ("платежи-api", "платежи-api"), ("支付", "支付"), ("платежи api", "платежи-api"), ("ｐａｙｍｅｎｔｓ", "payments"),
])
def test_service_names_in_any_script_are_kept(label, service):
    event = parse(group([alert(1, service=label)]), now=NOW)[0]
    assert event.service == service


def test_services_in_two_scripts_do_not_merge():
    one, two = (parse(group([alert(1, service=s)]), now=NOW)[0] for s in ("支付", "платежи"))
    assert one.service != two.service and "unknown" not in (one.service, two.service)


def test_the_label_cap_keeps_service_and_severity_and_counts_exactly():
    labels = {f"a{i:03d}": "v" for i in range(100)}  # sorted before service/severity, as Prometheus sends them
    event = parse(group([alert(1, severity="critical", **labels)]), now=NOW)[0]
    assert len(event.labels) == MAX_LABELS
    assert event.labels["service"] == "payment-api" and event.labels["severity"] == "critical"
    # 108 labels: the 100, alertname, service, instance, severity, and the payload's unread fields
    # (alertmanager.generatorURL, .receiver, .groupLabels, .externalURL); 63 kept + the count
    assert int(event.labels["intake.dropped_labels"]) == 108 - 63


def test_the_label_cap_keeps_the_labels_the_rules_read():
    labels = {f"a{i:03d}": "v" for i in range(100)}
    with keeping({"zone"}):
        event = parse(group([alert(1, zone="eu-1", **labels)]), now=NOW)[0]
    assert event.labels["zone"] == "eu-1"
