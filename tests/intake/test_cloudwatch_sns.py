"""SNS HTTP notifications: CloudWatch alarm Messages are mapped; plain text becomes a firing event;
the subscription handshake is an error that tells the operator what to do."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from engine.intake import IntakeError, detect, parse

NOTIFICATION = "aws_sns_http_notification_docs.json"
CONFIRMATION = "aws_sns_subscription_confirmation_real.json"

# Field names and shapes from the AWS SNS/CloudWatch docs (tests/fixtures/vendor/README.md section 6);
# there is no real CloudWatch alarm fixture, so the values are made up.
ALARM = {
    "AlarmName": "payment-api high error rate",
    "AlarmDescription": "5xx above 5% for 1 minute",
    "AWSAccountId": "123456789012",
    "NewStateValue": "ALARM",
    "NewStateReason": "Threshold Crossed: 1 datapoint [0.12 (04/06/21 13:50:00)] was greater than "
    "the threshold (0.05).",
    "StateChangeTime": "2021-06-04T13:55:30.394+0000",
    "Region": "US West (Oregon)",
    "AlarmArn": "arn:aws:cloudwatch:us-west-2:123456789012:alarm:payment-api high error rate",
    "OldStateValue": "OK",
    "Trigger": {
        "MetricName": "error_rate",
        "Namespace": "Custom/Payments",
        "Statistic": "AVERAGE",
        "Dimensions": [{"value": "payment-api", "name": "ServiceName"}, {"value": "prod", "name": "Stage"}],
        "Period": 60,
        "EvaluationPeriods": 1,
        "ComparisonOperator": "GreaterThanThreshold",
        "Threshold": 0.05,
    },
}


def envelope(fixture_doc, alarm: dict) -> bytes:
    doc = fixture_doc(NOTIFICATION)
    doc["Subject"] = 'ALARM: "payment-api high error rate" in US West (Oregon)'
    doc["Message"] = json.dumps(alarm)  # a JSON *string*, as SNS delivers it
    return json.dumps(doc).encode()


def test_cloudwatch_alarm_message_is_parsed_a_second_time(fixture_doc):
    (event,) = parse(envelope(fixture_doc, ALARM))
    assert event.status == "firing"
    assert event.source == "cloudwatch"
    assert event.service == "payment-api"  # the ServiceName dimension
    assert event.title == "payment-api high error rate"
    assert event.description.startswith("5xx above 5% for 1 minute\n\nThreshold Crossed")
    assert event.fingerprint == ALARM["AlarmArn"]
    assert event.metrics == {"error_rate": 0.12}
    assert event.timestamp == datetime(2021, 6, 4, 13, 55, 30, 394000, tzinfo=UTC)
    assert event.event_id == "sns:22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324"
    assert event.labels["ServiceName"] == "payment-api" and event.labels["Stage"] == "prod"
    assert event.labels["alarm_state"] == "ALARM"
    assert event.labels["trigger.Threshold"] == "0.05"
    assert event.labels["cloudwatch.Region"] == "US West (Oregon)"
    assert event.labels["sns.Signature"] == "<redacted>"
    assert event.labels["sns.UnsubscribeURL"] == "<redacted>"


def test_ok_state_resolves_the_same_fingerprint(fixture_doc):
    firing = parse(envelope(fixture_doc, ALARM))[0]
    ok = {**ALARM, "NewStateValue": "OK", "OldStateValue": "ALARM", "NewStateReason": "Threshold Crossed: no"}
    (resolved,) = parse(envelope(fixture_doc, ok))
    assert resolved.status == "resolved"
    assert resolved.fingerprint == firing.fingerprint
    assert resolved.metrics == {}


def test_alarm_without_service_dimension_uses_the_alarm_name(fixture_doc):
    alarm = {**ALARM, "Trigger": {**ALARM["Trigger"], "Dimensions": [{"name": "InstanceId", "value": "i-1"}]}}
    del alarm["AlarmArn"]
    (event,) = parse(envelope(fixture_doc, alarm))
    assert event.service == "payment-api-high-error-rate"
    assert event.fingerprint == "cloudwatch:123456789012:US West (Oregon):payment-api high error rate"
    assert event.labels["InstanceId"] == "i-1"


def test_plain_text_message_is_a_firing_event_for_the_topic(fixture_bytes):
    (event,) = parse(fixture_bytes(NOTIFICATION))
    assert event.status == "firing"
    assert event.source == "sns"
    assert event.service == "MyTopic"
    assert event.title == "My First Message"
    assert event.description == "Hello world!"
    assert event.fingerprint == "sns:arn:aws:sns:us-west-2:123456789012:MyTopic:My First Message"
    assert event.event_id == "sns:22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324"
    assert event.timestamp == datetime(2012, 5, 2, 0, 54, 6, 655000, tzinfo=UTC)
    assert event.labels["sns.SignatureVersion"] == "1"
    assert parse(fixture_bytes(NOTIFICATION))[0].event_id == event.event_id


def test_subscription_confirmation_is_not_an_event(fixture_bytes):
    with pytest.raises(IntakeError) as info:
        parse(fixture_bytes(CONFIRMATION))
    err = info.value
    assert err.code == "sns-subscription-confirmation"
    assert "SubscribeURL" in err.reason and "confirm" in err.reason
    assert "arn:aws:sns:ap-northeast-1:863886017929:developers" in err.reason
    assert "Token=" not in err.reason and "\n" not in err.reason


def test_unsubscribe_confirmation_is_ignored(fixture_doc):
    doc = fixture_doc(CONFIRMATION)
    doc["Type"] = "UnsubscribeConfirmation"
    with pytest.raises(IntakeError) as info:
        parse(json.dumps(doc).encode())
    assert info.value.code == "ignored-webhook"


def test_detected_as_sns(fixture_doc):
    assert detect(fixture_doc(NOTIFICATION)) == "cloudwatch-sns"
