"""The shipped policy reads the severity labels monitors already send (Alertmanager/Grafana/PagerDuty
``severity``, ``priority``, Datadog priorities via intake, CloudWatch alarm names); metric rules still
outrank a label that says less."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from core_util import RULES

from engine.cli.options import load_compiled
from engine.decide import Decider
from engine.decide.classify import NO_MODEL
from engine.intake import parse
from engine.model.event import Event

NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def decider() -> Decider:
    return Decider(load_compiled(RULES, quiet_warnings=True), model=NO_MODEL)


def event(labels: dict[str, str] | None = None, **fields: object) -> Event:
    return Event.model_validate({"event_id": "e1", "timestamp": "2025-01-01T12:00:00Z", "service": "payment-api",
                                 "labels": labels or {}, **fields})


@pytest.mark.parametrize(("labels", "severity"), [
    ({"severity": "critical"}, "CRITICAL"), ({"severity": "page"}, "CRITICAL"), ({"severity": "CRITICAL"}, "CRITICAL"),
    ({"priority": "P1"}, "CRITICAL"), ({"severity": "error"}, "MAJOR"), ({"severity": "high"}, "MAJOR"),
    ({"priority": "P2"}, "MAJOR"), ({"severity": "warning"}, "MODERATE"), ({"severity": "warn"}, "MODERATE"),
    ({"priority": "P3"}, "MODERATE"), ({"severity": "info"}, "NONE"), ({"severity": "low"}, "NONE"),
    ({"priority": "P4"}, "NONE"), ({"severity": "criticality-unknown"}, "NONE"),
])
def test_severity_and_priority_labels(decider: Decider, labels: dict[str, str], severity: str) -> None:
    assert decider.decide(event(labels)).severity == severity


def test_a_metric_rule_outranks_a_label_that_says_less(decider: Decider) -> None:
    decision = decider.decide(event({"severity": "warning"}, metrics={"error_rate": 0.3}))
    assert decision.severity == "MAJOR"
    assert decision.fired_rules[0] == "severity:error-rate-high"


def test_a_metric_rule_names_the_cause_when_both_say_critical(decider: Decider) -> None:
    decision = decider.decide(event({"severity": "critical"}, conditions={"service_unavailable": True}))
    assert decision.fired_rules[0] == "severity:service-unavailable"


def test_alertmanager_severity_critical_pages(decider: Decider) -> None:
    body = {"version": "4", "groupKey": "g", "status": "firing", "alerts": [{
        "status": "firing", "labels": {"alertname": "PaymentDown", "service": "payment-api", "severity": "critical"},
        "annotations": {"summary": "payment-api down"}, "startsAt": "2025-01-01T11:59:00Z", "fingerprint": "f1"}]}
    decision = decider.decide(parse(json.dumps(body).encode(), now=NOW)[0])
    assert decision.severity == "CRITICAL" and {i.action for i in decision.intents if i.kind == "page"} >= {"pagerduty"}


@pytest.mark.parametrize(("priority", "severity"), [("P1", "CRITICAL"), ("P2", "MAJOR"), ("P3", "MODERATE"),
                                                    ("P4", "NONE")])
def test_datadog_priorities(decider: Decider, priority: str, severity: str) -> None:
    body = {"id": "1", "alert_transition": "Triggered", "title": f"[{priority}] [Triggered on {{host:a}}] Disk full",
            "alert_priority": priority, "tags": "service:payment-api", "date": 1735732800000}
    assert decider.decide(parse(json.dumps(body).encode(), now=NOW)[0]).severity == severity


@pytest.mark.parametrize(("alarm", "severity"), [("critical-payment-api-5xx", "CRITICAL"),
                                                 ("P2 payment latency", "MAJOR"), ("warning-disk", "MODERATE"),
                                                 ("payment-api-5xx", "NONE")])
def test_cloudwatch_alarm_name_prefixes(decider: Decider, alarm: str, severity: str) -> None:
    message = {"AlarmName": alarm, "NewStateValue": "ALARM", "NewStateReason": "threshold crossed",
               "StateChangeTime": "2025-01-01T12:00:00.000+0000", "Trigger": {"MetricName": "Errors"}}
    body = {"Type": "Notification", "MessageId": "m1", "TopicArn": "arn:aws:sns:eu-west-1:1:alarms",
            "Message": json.dumps(message), "Timestamp": "2025-01-01T12:00:00Z"}
    assert decider.decide(parse(json.dumps(body).encode(), now=NOW)[0]).severity == severity


@pytest.mark.parametrize(("labels", "source", "title", "rank"), [
    ({"severity": " Critical "}, "", "", 3.0), ({"severity": "warning", "priority": "P1"}, "", "", 3.0),
    ({"priority": "p4"}, "", "", 0.0), ({"severity": "bogus"}, "", "", None), ({}, "cloudwatch", "sev-1_db", 3.0),
    ({}, "cloudwatch", "HIGH: latency", 2.0), ({}, "cloudwatch", "payment-5xx", None),
    ({}, "prometheus", "critical-path latency", None),  # a title is read for CloudWatch alarms only
])
def test_label_severity_vocabulary(labels, source, title, rank) -> None:
    from engine.model.label_severity import label_severity
    assert label_severity(labels, source, title) == rank
