"""The canonical event: the one shape every intake format is normalized into.

``schemas/event.schema.json`` is generated from :class:`Event` (``python -m engine.model.event``)
and a test keeps the two identical. Unknown top-level fields are rejected so that typos
surface (``metrcis`` is an error, not a silently ignored block); the only exception is
``expect``, which `rules simulate --check` reads and the engine ignores.

Standard metric names (the shipped rules use them; any other name is allowed):

========================  =====================================================
``availability``          fraction of successful probes, 0–1
``error_rate``            fraction of failed requests, 0–1
``latency_p99_ms``        99th percentile latency in milliseconds
``cpu_utilization``       0–1
``memory_utilization``    0–1
``request_rate``          requests per second now
``baseline_request_rate`` requests per second normally seen at this time
``healthy_hosts``         hosts passing health checks
``total_hosts``           hosts in the pool
========================  =====================================================

:func:`derive` adds signals computed from several inputs (multi-signal fusion), which rules
address as ``derived.*``; see its docstring.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from datetime import UTC, datetime, timezone
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator, model_validator

from engine.model.label_severity import label_severity
from engine.model.vocabulary import SEVERITIES, STANDARD_CONDITIONS, STANDARD_METRICS
from engine.resources import resource

__all__ = ["SEVERITIES", "STANDARD_CONDITIONS", "STANDARD_METRICS"]  # re-exported (engine.model.vocabulary)


Name = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:/@-]+$")]
# A service name may be in any script (letters and digits: \w is Unicode in Python's and pydantic's regexes),
# NFKC-normalized first so that compatibility forms (fullwidth ``ｐａｙ``) name the same service as ``pay``.
ServiceName = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[\w.:/@-]+$")]
Number = Annotated[float, Field(allow_inf_nan=False, strict=True)]  # "5" is an error, not 5.0
# Counts (log lines, spans) stay exact in JSON and in a float, and within what the audit log's JSON
# encoder (64-bit integers) and the engine accept.
MAX_COUNT = 2**53 - 1
# The latest event time: escalation steps and suppression windows are added to it (days at most),
# and datetime ends at 9999-12-31.
MAX_TIMESTAMP = datetime(9999, 1, 1, tzinfo=UTC)


def timestamp_problem(value: datetime) -> str | None:
    """Why an aware ``value`` cannot be an event time (its UTC instant is out of range), else None."""
    try:
        instant = value.astimezone(UTC)
    except (OverflowError, ValueError):
        return f"timestamp {value.isoformat()} is out of range: its UTC time is before year 1 or after 9999"
    if instant >= MAX_TIMESTAMP:
        return f"timestamp {value.isoformat()} is out of range: the latest allowed is 9998-12-31T23:59:59Z"
    return None


class LogLine(BaseModel):
    model_config = ConfigDict(extra="forbid")
    level: Literal["debug", "info", "warning", "error", "critical", "fatal"]
    message: str = Field("", max_length=4000)
    count: int = Field(1, ge=0, le=MAX_COUNT)


class Traces(BaseModel):
    model_config = ConfigDict(extra="forbid")
    error_spans: int = Field(0, ge=0, le=MAX_COUNT)
    slow_spans: int = Field(0, ge=0, le=MAX_COUNT)
    total_spans: int = Field(0, ge=0, le=MAX_COUNT)


OFFSET = re.compile(r"^\+?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_offset(value: str | float) -> float:
    """``"+4m"``, ``"+1h30m"``, ``"90s"`` or a number of seconds → seconds. Raises ValueError."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value < 0 or not math.isfinite(value):
            raise ValueError(f"offset {value!r} must be a finite number of seconds >= 0")
        return float(value)
    m = OFFSET.match(str(value).strip())
    if not m or not any(m.groups()):
        raise ValueError(f"offset {value!r} is not like '+4m', '+1h30m', '+90s' or a number of seconds")
    h, mi, s = (int(g or 0) for g in m.groups())
    return float(h * 3600 + mi * 60 + s)


class ScriptStep(BaseModel):
    """A scripted ack or resolve for `rules simulate`: ``{at: "+4m", ack: "bob@company.com"}``."""

    model_config = ConfigDict(extra="forbid")
    at: str | float = Field(description="time after the event: '+4m', '+1h30m', '+90s' or seconds")
    ack: str | None = Field(None, min_length=1, max_length=200, description="who acknowledges")
    resolve: str | None = Field(None, min_length=1, max_length=200, description="who resolves")
    source: str = Field("manual", max_length=200, description="where the update comes from, e.g. pagerduty")

    @model_validator(mode="after")
    def _one_action(self) -> ScriptStep:
        parse_offset(self.at)
        if (self.ack is None) == (self.resolve is None):
            raise ValueError("a script step has exactly one of 'ack' or 'resolve'")
        return self


class TimelineEntry(BaseModel):
    """One line of an escalation timeline; in ``expect.timeline`` only the fields given are compared."""

    model_config = ConfigDict(extra="forbid")
    at_seconds: float = Field(ge=0)
    kind: Literal["page", "cancelled", "acked", "resolved", "acknowledge", "resolve"]
    action: str | None = None
    step: int | None = None
    targets: list[str] | None = None
    by: str | None = None


class Expectation(BaseModel):
    """What `rules simulate --check` and `rules test` should see for this event (ignored by the engine).

    The keys are compared by :func:`engine.run.review.expect.compare`.

    ``script`` is the scripted acks/resolves simulate applies to this event (unless ``--script``
    names one for it) and ``timeline`` the escalation timeline it should then print.
    """

    model_config = ConfigDict(extra="forbid")
    severity: Literal["NONE", "MODERATE", "MAJOR", "CRITICAL"] | None = None
    owner: str | None = None
    actions: list[str] | None = None
    channels: list[str] | None = None
    fired_rules: list[str] | None = None
    script: list[ScriptStep] | None = None
    timeline: list[TimelineEntry] | None = None
    suppressed: Literal["none", "silence", "maintenance", "flap", "dedup", "inhibit", "persistence", "fusion",
                        "group", "resolve"] | None = Field(
        None, description="the suppression mechanism that handled the event ('none': a new incident)")
    incident_id: str | None = Field(None, description="the incident the event belongs to ('' when suppressed)")
    rule: str | None = Field(None, description="the severity rule that decided ('default': none matched)")
    level: Literal["P0", "P1", "P2", "P3"] | None = None
    remediation: dict[str, Any] | None = Field(
        None, description="a subset of {action, rule, params} of the remediation (use 'actions: []' for none)")
    messages: dict[str, dict[str, Any]] | None = Field(
        None, description="per channel, a subset of the rendered message's fields")


class Event(BaseModel):
    """One observation about one service, from any monitor."""

    model_config = ConfigDict(extra="forbid", str_max_length=20000)

    event_id: Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:@/-]+$")]
    timestamp: datetime = Field(description="RFC 3339 time the monitor observed the signal (with offset)")
    status: Literal["firing", "resolved"] = Field(
        "firing", description="'resolved' closes the open incident for the same fingerprint"
    )
    source: str = Field("unknown", max_length=200)
    service: ServiceName
    environment: str = Field("production", max_length=100)
    title: str = Field("", max_length=1000)
    description: str = Field("", max_length=10000)
    fingerprint: str | None = Field(None, max_length=200, description="groups repeats of the same alert")
    metrics: dict[Name, Number] = Field(default_factory=dict, max_length=64)
    logs: list[LogLine] = Field(default_factory=list, max_length=200)
    traces: Traces = Field(default_factory=Traces)
    conditions: dict[Name, StrictBool] = Field(default_factory=dict, max_length=64)
    labels: dict[Name, Annotated[str, Field(max_length=1000)]] = Field(default_factory=dict, max_length=64)
    runbook_url: str | None = Field(None, max_length=2000)
    expect: Expectation | None = Field(None, description="ignored by the engine; read by simulate --check")

    @field_validator("timestamp")
    @classmethod
    def _needs_offset(cls, value: datetime) -> datetime:
        return aware_timestamp(value)

    @field_validator("service", mode="before")
    @classmethod
    def _nfkc(cls, value: Any) -> Any:
        return unicodedata.normalize("NFKC", value) if isinstance(value, str) and not value.isascii() else value


class Acknowledgement(BaseModel):
    """A human (or the pager) acknowledging, resolving or escalating an incident: ``{"type": "ack", ...}``."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["ack", "resolve", "escalate"]
    event_id: Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:@/-]+$")]
    incident_id: str = Field(min_length=1, max_length=255)
    by: str = Field(min_length=1, max_length=200)
    timestamp: datetime
    source: str = Field("manual", max_length=200)
    note: str = Field("", max_length=4000)
    # other names the pager gave the incident (PagerDuty's own incident id, its dedup key): tried by
    # engine.run.acknowledge.match after incident_id
    refs: tuple[Annotated[str, Field(min_length=1, max_length=512)], ...] = Field(default=(), max_length=8)
    # escalate only: the escalation step to page now (default: the first one after those already paged)
    step: int | None = Field(None, ge=0, le=100)

    @field_validator("timestamp")
    @classmethod
    def _needs_offset(cls, value: datetime) -> datetime:  # ordered and compared with event times
        return aware_timestamp(value)


def aware_timestamp(value: datetime) -> datetime:
    """An event or acknowledgement time: with a UTC offset and in range (see :func:`timestamp_problem`)."""
    if value.tzinfo is None:
        raise ValueError("timestamp must be RFC 3339 with a UTC offset, e.g. 2025-01-01T14:23:45Z")
    if (value.year == 1 or value.year >= 9998) and (problem := timestamp_problem(value)):  # only these can be
        raise ValueError(problem)
    # The same instant and offset with the standard library's tzinfo: pydantic's own makes every
    # .timestamp() call (three per decision) cost ~0.8 µs instead of ~0.2.
    if type(value.tzinfo) is timezone:
        return value
    offset = value.utcoffset()
    return value.replace(tzinfo=timezone(offset) if offset else UTC)


def derive(event: Event) -> dict[str, float]:
    """Signals fused from metrics, logs and traces (rules address them as ``derived.*``).

    ``log_errors``          sum of ``count`` over log lines at error/critical/fatal
    ``log_warnings``        sum of ``count`` over warning lines
    ``trace_error_ratio``   error_spans / total_spans (0 when there are no spans)
    ``trace_slow_ratio``    slow_spans / total_spans
    ``healthy_host_ratio``  healthy_hosts / total_hosts (only when both metrics exist)
    ``load_ratio``          request_rate / baseline_request_rate (only when both exist)
    ``label_severity``      what the monitor's own labels say: 3 critical, 2 major, 1 warning, 0 info
                            (``engine.model.label_severity``; only when a label says something)

    A ratio that overflows (not finite) is left out.
    """
    errors = warnings = 0
    for line in event.logs:
        level = line.level
        if level == "warning":
            warnings += line.count
        elif level in _ERROR_LEVELS:
            errors += line.count
    traces = event.traces
    spans = traces.total_spans
    out: dict[str, float] = {
        "log_errors": float(errors),
        "log_warnings": float(warnings),
        "trace_error_ratio": traces.error_spans / spans if spans else 0.0,
        "trace_slow_ratio": traces.slow_spans / spans if spans else 0.0,
    }
    m = event.metrics
    if m:
        total = m.get("total_hosts")
        if total:
            ratio = m.get("healthy_hosts", 0.0) / total
            if math.isfinite(ratio):
                out["healthy_host_ratio"] = ratio
        baseline = m.get("baseline_request_rate")
        if baseline:
            ratio = m.get("request_rate", 0.0) / baseline
            if math.isfinite(ratio):
                out["load_ratio"] = ratio
    if event.labels or event.source == "cloudwatch":
        said = label_severity(event.labels, event.source, event.title)
        if said is not None:
            out["label_severity"] = said
    return out


_ERROR_LEVELS = frozenset(("error", "critical", "fatal"))
# The JSON form of an Event, built from its fields: model_dump(mode="json") costs ~6 µs an event.
# Used only while Event has exactly these fields (a test compares the two on many events).
_DOCUMENT_FIELDS = ("event_id", "timestamp", "status", "source", "service", "environment", "title", "description",
                    "fingerprint", "metrics", "logs", "traces", "conditions", "labels", "runbook_url", "expect")
_FAST_DOCUMENT = tuple(Event.model_fields) == _DOCUMENT_FIELDS


def event_document(event: Event) -> dict[str, Any]:
    """The event as rules and templates see it: the JSON form plus ``derived``, without ``expect``.

    Equal to ``event.model_dump(mode="json", exclude={"expect"})`` plus ``derived``, key order included.
    """
    stamp = _json_timestamp(event.timestamp) if _FAST_DOCUMENT and type(event) is Event else None
    if stamp is None:
        doc = event.model_dump(mode="json", exclude={"expect"})
    else:
        doc = event.__dict__.copy()  # the fields, in declaration order; then the non-JSON ones replaced
        doc.pop("expect", None)
        doc["timestamp"] = stamp
        doc["metrics"] = doc["metrics"].copy()
        doc["logs"] = [{"level": x.level, "message": x.message, "count": x.count} for x in event.logs]
        traces = event.traces
        doc["traces"] = {"error_spans": traces.error_spans, "slow_spans": traces.slow_spans,
                         "total_spans": traces.total_spans}
        doc["conditions"] = doc["conditions"].copy()
        doc["labels"] = doc["labels"].copy()
    doc["derived"] = derive(event)
    return doc


_PAYLOAD_FIELDS = _DOCUMENT_FIELDS[:-1]  # without "expect"


def event_json(event: Event, doc: dict[str, Any] | None = None) -> str:
    """The event as the audit log stores it: the JSON text of ``event.model_dump_json(exclude={"expect"})``.

    ``doc``: the event's :func:`event_document` (extra keys such as ``derived`` are ignored). With it
    the text is orjson's encoding of the same fields (~0.6 µs instead of pydantic's ~4.7 µs); it
    parses to the same JSON value (a test compares the two on many events).
    """
    if doc is None or not _FAST_DOCUMENT or type(event) is not Event or doc.get("event_id") != event.event_id:
        return event.model_dump_json(exclude={"expect"})
    return orjson.dumps({k: doc[k] for k in _PAYLOAD_FIELDS}).decode()


def _json_timestamp(value: datetime) -> str | None:
    """pydantic's JSON form of an aware datetime (``Z`` for UTC); None when the offset has seconds."""
    text = value.isoformat()
    if text[-6] not in "+-":  # no "±HH:MM" suffix: naive, or an offset with seconds (pydantic drops them)
        return None
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def json_schema() -> dict[str, Any]:
    schema = Event.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://escalation-handlers.dev/schemas/event.schema.json"
    return schema


SCHEMA_PATH = resource("schemas") / "event.schema.json"

if __name__ == "__main__":  # regenerate schemas/event.schema.json
    SCHEMA_PATH.write_text(json.dumps(json_schema(), indent=2) + "\n")
    print(f"wrote {SCHEMA_PATH}")
