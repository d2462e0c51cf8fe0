"""AWS SNS HTTP(S) notification → one :class:`~engine.model.event.Event`; CloudWatch alarms are mapped.

SNS wraps everything in ``{"Type", "MessageId", "TopicArn", "Subject", "Message", "Timestamp", …}``.

* ``Type: SubscriptionConfirmation`` is the subscription handshake, not an event:
  ``IntakeError(code="sns-subscription-confirmation")`` whose reason names the topic and tells the
  operator to confirm the ``SubscribeURL`` (this module never fetches anything).
  ``UnsubscribeConfirmation`` → ``ignored-webhook``.
* ``Type: Notification`` whose ``Message`` is a **JSON string** holding a CloudWatch alarm
  (``AlarmName`` + ``NewStateValue``; parsed with the same strict JSON limits):

  ==============  ===============================================================================
  ``event_id``    ``sns:<MessageId>`` (SNS keeps the MessageId on redelivery)
  ``timestamp``   ``StateChangeTime``, else the SNS ``Timestamp``
  ``status``      ``NewStateValue`` ``OK`` → resolved; ``ALARM`` and ``INSUFFICIENT_DATA`` → firing
                  (the state is kept in label ``alarm_state``)
  ``source``      ``cloudwatch``
  ``service``     the ``Trigger.Dimensions`` entry named ``ServiceName``/``Service``/``service``,
                  else the ``AlarmName`` (slugged)
  ``title``       ``AlarmName``; ``description``: ``AlarmDescription`` and ``NewStateReason``
  ``fingerprint`` ``AlarmArn``, else ``cloudwatch:<AWSAccountId>:<Region>:<AlarmName>``
  ``metrics``     ``<MetricName>``: the newest datapoint quoted in ``NewStateReason``
                  (``… 1 datapoint [42.0 (…)] was greater than …``), when present
  ``labels``      every dimension as ``<Name>``, ``Trigger`` fields as ``trigger.<field>``,
                  other alarm fields as ``cloudwatch.<field>``, SNS fields as ``sns.<field>``
  ==============  ===============================================================================

* Any other ``Notification`` (plain text, or JSON that is not an alarm): a firing event with
  ``source: sns``, ``service`` = the topic name (last part of ``TopicArn``), ``title`` =
  ``Subject`` or the first line of ``Message``, ``description`` = ``Message``, and
  ``fingerprint`` = ``sns:<TopicArn>:<Subject>`` so repeats of one notification group together.
  SNS has no "resolved" for such messages.

The signature is not verified here (it needs the signing certificate over the network); verify
it at the HTTP endpoint. ``Signature`` and ``UnsubscribeURL`` are kept as ``<redacted>``.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from engine.intake import safejson
from engine.intake.errors import IntakeError
from engine.intake.normalize import (
    Fields,
    clip,
    digest,
    merge_labels,
    name,
    number,
    service_name,
    string_labels,
    timestamp,
    to_event,
)
from engine.model.event import Event

NAME = "cloudwatch-sns"
_SERVICE_DIMENSIONS = ("ServiceName", "Service", "service")
_DATAPOINT = re.compile(r"datapoints? \[\s*(-?[0-9][0-9.eE+-]*)")


def matches(doc: Any) -> bool:
    return isinstance(doc, dict) and isinstance(doc.get("Type"), str) and "TopicArn" in doc


def normalize(doc: dict[str, Any], *, now: datetime) -> list[Event]:
    sns = Fields(doc, "sns")
    kind = sns.text("Type")
    topic = sns.text("TopicArn") or ""
    if kind == "SubscriptionConfirmation":
        raise IntakeError(
            f"SNS subscription confirmation for topic {clip(topic, 200)}, not an event: confirm the "
            "subscription by opening its SubscribeURL (this tool never fetches it), then alarms will arrive",
            "sns-subscription-confirmation",
        )
    if kind != "Notification":
        raise IntakeError(f"SNS {clip(kind or '', 60)} message carries no event", "ignored-webhook")
    message = sns.text("Message") or ""
    alarm = _alarm(message)
    fields = _alarm_fields(alarm, sns) if alarm is not None else _text_fields(message, sns, topic)
    fields["timestamp"] = fields.get("timestamp") or timestamp(sns.text("Timestamp")) or now
    message_id = name(sns.text("MessageId") or "", "")[:150]
    fields["event_id"] = "sns:" + (message_id or digest(doc))
    fields["labels"] = merge_labels(fields["labels"], sns.leftovers())
    return [to_event(fields)]


def _alarm(message: str) -> dict[str, Any] | None:
    if not message.lstrip().startswith("{"):
        return None
    try:
        doc = safejson.loads(message)
    except IntakeError:
        return None
    return doc if isinstance(doc, dict) and "AlarmName" in doc and "NewStateValue" in doc else None


def _alarm_fields(alarm: dict[str, Any], sns: Fields) -> dict[str, Any]:
    f = Fields(alarm, "cloudwatch")
    alarm_name = f.text("AlarmName") or "alarm"
    state = f.text("NewStateValue") or ""
    trigger = Fields(f.mapping("Trigger"), "trigger")
    dimensions = {}
    raw_dimensions = trigger.raw("Dimensions") if isinstance(trigger.doc.get("Dimensions"), list) else []
    for item in raw_dimensions:
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            dimensions[item["name"]] = item.get("value")
    service = next((str(dimensions[d]) for d in _SERVICE_DIMENSIONS if dimensions.get(d)), alarm_name)
    reason = f.text("NewStateReason") or ""
    metrics = {}
    metric = trigger.text("MetricName")
    if metric and (match := _DATAPOINT.search(reason)) and (value := number(match.group(1))) is not None:
        metrics[name(metric, "value")] = value
    # Read without marking them used: they also stay as cloudwatch.AWSAccountId / .Region labels.
    account, region = str(alarm.get("AWSAccountId") or ""), str(alarm.get("Region") or "")
    description = "\n\n".join(x for x in (f.text("AlarmDescription"), reason) if x)
    sns.skip("Message")
    return {
        "timestamp": timestamp(f.text("StateChangeTime")),
        "status": "resolved" if state == "OK" else "firing",
        "source": "cloudwatch",
        "service": service_name(service),
        "title": clip(alarm_name, 1000),
        "description": clip(description, 10000),
        "fingerprint": clip(f.text("AlarmArn") or f"cloudwatch:{account}:{region}:{alarm_name}", 200),
        "metrics": metrics,
        "labels": merge_labels(
            string_labels(dimensions.items()),
            {"alarm_state": clip(state, 1000)} if state else {},
            trigger.leftovers(),
            f.leftovers(),
        ),
    }


def _text_fields(message: str, sns: Fields, topic: str) -> dict[str, Any]:
    subject = sns.text("Subject") or ""
    first_line = message.strip().splitlines()[0] if message.strip() else ""
    sns.skip("Message")
    return {
        "status": "firing",
        "source": "sns",
        "service": service_name(topic.rsplit(":", 1)[-1] or "sns"),
        "title": clip(subject or first_line, 1000),
        "description": clip(message, 10000),
        "fingerprint": clip(f"sns:{topic}:{subject}", 200),
        "labels": {},
    }
