"""Property: parse() returns valid Events/Acknowledgements or raises IntakeError — nothing else."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.intake import IntakeError, parse
from engine.model.event import Acknowledgement, Event

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=20), inner, max_size=5),
    max_leaves=30,
)
label_maps = st.dictionaries(st.text(max_size=30), json_values, max_size=8)


def check(data: bytes) -> None:
    try:
        items = parse(data)
    except IntakeError as exc:
        assert exc.code and exc.reason and "\n" not in exc.reason
        return
    for item in items:
        assert isinstance(item, Event | Acknowledgement)
        type(item).model_validate(item.model_dump())  # still valid under the canonical model


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_arbitrary_bytes(data):
    check(data)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_arbitrary_json_values(value):
    check(json.dumps(value).encode())


alerts = st.fixed_dictionaries(
    {"labels": label_maps, "annotations": label_maps},
    optional={
        "status": st.sampled_from(["firing", "resolved"]) | json_values,
        "startsAt": st.text(max_size=40) | json_values,
        "endsAt": st.text(max_size=40),
        "fingerprint": st.text(max_size=300) | json_values,
        "values": label_maps,
    },
)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.fixed_dictionaries(
        {"version": st.just("4"), "alerts": st.lists(alerts, max_size=3)},
        optional={"groupKey": st.text(), "commonLabels": label_maps, "orgId": st.integers()},
    )
)
def test_alertmanager_and_grafana_shaped(doc):
    check(json.dumps(doc).encode())


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.fixed_dictionaries(
        {"alert_transition": st.text(max_size=20)},
        optional={
            k: json_values
            for k in (
                "title",
                "body",
                "date",
                "tags",
                "id",
                "event_id",
                "alert_id",
                "alert_priority",
                "alert_type",
                "service",
                "alert_scope",
            )
        },
    )
)
def test_datadog_shaped(doc):
    check(json.dumps(doc).encode())


alarm = st.fixed_dictionaries(
    {"AlarmName": json_values, "NewStateValue": st.sampled_from(["ALARM", "OK", "INSUFFICIENT_DATA"])},
    optional={
        "Trigger": st.fixed_dictionaries({}, optional={"MetricName": json_values, "Dimensions": json_values}),
        "NewStateReason": st.text(),
        "StateChangeTime": json_values,
    },
)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.fixed_dictionaries(
        {
            "Type": st.sampled_from(["Notification", "SubscriptionConfirmation", "Other"]),
            "TopicArn": json_values,
            "Message": alarm.map(json.dumps) | st.text(),
        },
        optional={"MessageId": json_values, "Subject": json_values, "Timestamp": json_values},
    )
)
def test_sns_shaped(doc):
    check(json.dumps(doc).encode())


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.fixed_dictionaries(
        {
            "event": st.fixed_dictionaries(
                {
                    "event_type": st.sampled_from(["incident.acknowledged", "incident.resolved"]),
                    "resource_type": st.just("incident"),
                },
                optional={
                    "id": json_values,
                    "data": json_values,
                    "agent": json_values,
                    "occurred_at": json_values,
                },
            )
        }
    )
)
def test_pagerduty_shaped(doc):
    check(json.dumps(doc).encode())
