"""The canonical event model and its JSON Schema stay in step; typos are rejected."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from core_util import ROOT, SAMPLES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from pydantic import ValidationError

from engine.model.event import SCHEMA_PATH, Event, derive, event_document, event_json, json_schema


def test_schema_file_is_generated_from_the_model() -> None:
    assert json.loads(SCHEMA_PATH.read_text()) == json_schema(), "run: python -m engine.model.event"


def test_samples_validate_against_both() -> None:
    validator = Draft202012Validator(json.loads(SCHEMA_PATH.read_text()))
    for path in SAMPLES.glob("*.json"):
        doc = json.loads(path.read_text())
        assert not list(validator.iter_errors(doc)), path.name
        Event.model_validate(doc)


def test_unknown_top_level_field_is_rejected_but_expect_is_allowed() -> None:
    base = {"event_id": "x", "timestamp": "2025-01-01T00:00:00Z", "service": "api"}
    Event.model_validate({**base, "expect": {"severity": "NONE"}})
    with pytest.raises(ValidationError, match="metrcis"):
        Event.model_validate({**base, "metrcis": {}})


def test_timestamp_needs_an_offset_and_numbers_must_be_finite() -> None:
    base = {"event_id": "x", "service": "api"}
    with pytest.raises(ValidationError, match="RFC 3339"):
        Event.model_validate({**base, "timestamp": "2025-01-01T00:00:00"})
    with pytest.raises(ValidationError):
        Event.model_validate({**base, "timestamp": "2025-01-01T00:00:00Z", "metrics": {"a": float("inf")}})
    with pytest.raises(ValidationError):
        Event.model_validate({**base, "timestamp": "2025-01-01T00:00:00Z", "metrics": {"a": "5"}})


def test_derived_signals_fuse_logs_traces_and_metrics() -> None:
    e = Event.model_validate({
        "event_id": "x", "timestamp": "2025-01-01T00:00:00Z", "service": "api",
        "metrics": {"healthy_hosts": 3, "total_hosts": 4, "request_rate": 300, "baseline_request_rate": 100},
        "logs": [{"level": "error", "count": 7}, {"level": "fatal", "count": 1}, {"level": "warning", "count": 2}],
        "traces": {"error_spans": 5, "slow_spans": 10, "total_spans": 50}})
    assert derive(e) == {"log_errors": 8.0, "log_warnings": 2.0, "trace_error_ratio": 0.1, "trace_slow_ratio": 0.2,
                         "healthy_host_ratio": 0.75, "load_ratio": 3.0}


# --- event_document / derive are hand-built for speed: they must equal the straightforward forms -------------

def reference_derive(event: Event) -> dict[str, float]:
    """derive() as first written (one generator per signal, then drop what is not finite)."""
    out: dict[str, float] = {
        "log_errors": float(sum(x.count for x in event.logs if x.level in ("error", "critical", "fatal"))),
        "log_warnings": float(sum(x.count for x in event.logs if x.level == "warning")),
    }
    spans = event.traces.total_spans
    out["trace_error_ratio"] = event.traces.error_spans / spans if spans else 0.0
    out["trace_slow_ratio"] = event.traces.slow_spans / spans if spans else 0.0
    m = event.metrics
    if m.get("total_hosts"):
        out["healthy_host_ratio"] = m.get("healthy_hosts", 0.0) / m["total_hosts"]
    if m.get("baseline_request_rate"):
        out["load_ratio"] = m.get("request_rate", 0.0) / m["baseline_request_rate"]
    return {k: v for k, v in out.items() if math.isfinite(v)}


def reference_document(event: Event) -> dict:
    doc = event.model_dump(mode="json", exclude={"expect"})
    doc["derived"] = reference_derive(event)
    return doc


def assert_same_document(event: Event) -> None:
    got, want = event_document(event), reference_document(event)
    # json.dumps keeps key order and tells 1 from 1.0: the audit log stores exactly this text
    assert json.dumps(got) == json.dumps(want)
    assert derive(event) == reference_derive(event)


def corpus_events() -> list[Event]:
    events = [Event.model_validate(json.loads(p.read_text())) for p in SAMPLES.glob("*.json")]
    for line in (ROOT / "data" / "corpus" / "eval.jsonl").read_text().splitlines():
        events.append(Event.model_validate(json.loads(line)["event"]))
    return events


def test_event_document_equals_model_dump_on_samples_and_corpus() -> None:
    events = corpus_events()
    assert len(events) > 1500
    for event in events:
        assert_same_document(event)


@pytest.mark.parametrize("timestamp", [
    "2025-01-01T00:00:00Z", "2025-01-01T00:00:00.123Z", "2025-01-01T00:00:00.000001+02:00",
    "2025-01-01T00:00:00.5-05:30", "2025-01-01T00:00:00-00:00", "2025-01-01 00:00:00+00:00", "0001-01-01T00:00:00Z",
    "2025-01-01T00:00:00+23:59", 1700000000, 1700000000.5,
    datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 7, 1, 12, tzinfo=ZoneInfo("Europe/Berlin")),
    datetime(2025, 1, 1, tzinfo=timezone(timedelta(seconds=3601))),  # pydantic drops the offset's second
    datetime(2025, 1, 1, tzinfo=timezone(timedelta(hours=-1, seconds=-1, microseconds=-5))),
])
def test_event_document_timestamp_forms(timestamp: object) -> None:
    assert_same_document(Event.model_validate({"event_id": "x", "timestamp": timestamp, "service": "api"}))


names = st.from_regex(r"[a-z_]{1,12}", fullmatch=True) | st.sampled_from(
    ["total_hosts", "healthy_hosts", "request_rate", "baseline_request_rate", "error_rate"])
finite = st.floats(allow_nan=False, allow_infinity=False) | st.integers(-10**6, 10**6).map(float)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.fixed_dictionaries({"event_id": st.just("x"), "timestamp": st.just("2025-01-01T00:00:00Z"),
                              "service": st.just("api")}, optional={
    "status": st.sampled_from(["firing", "resolved"]), "title": st.text(max_size=20),
    "fingerprint": st.none() | st.text(max_size=10), "runbook_url": st.none() | st.text(max_size=10),
    "metrics": st.dictionaries(names, finite, max_size=6),
    "logs": st.lists(st.fixed_dictionaries({"level": st.sampled_from(
        ["debug", "info", "warning", "error", "critical", "fatal"])}, optional={
        "message": st.text(max_size=10), "count": st.integers(0, 10**9)}), max_size=5),
    "traces": st.fixed_dictionaries({}, optional={"error_spans": st.integers(0, 10**6),
                                                  "slow_spans": st.integers(0, 10**6),
                                                  "total_spans": st.integers(0, 10**6)}),
    "conditions": st.dictionaries(names, st.booleans(), max_size=4),
    "labels": st.dictionaries(names, st.text(max_size=10), max_size=4),
    "expect": st.just({"severity": "NONE"}),
}))
def test_event_document_equals_model_dump_on_generated_events(doc: dict) -> None:
    assert_same_document(Event.model_validate(doc))


def test_a_ratio_that_overflows_is_left_out() -> None:
    e = Event.model_validate({"event_id": "x", "timestamp": "2025-01-01T00:00:00Z", "service": "api",
                              "metrics": {"healthy_hosts": 1e300, "total_hosts": 1e-300, "request_rate": 1.0,
                                          "baseline_request_rate": 4.0}})
    assert derive(e) == reference_derive(e)
    assert "healthy_host_ratio" not in derive(e) and derive(e)["load_ratio"] == 0.25


@pytest.mark.parametrize("text", ["2025-01-01T00:00:00Z", "2025-01-01T02:00:00+02:00", "2024-12-31T18:30:00-05:30",
                                  "2025-01-01T00:00:00.5+00:00"])
def test_timestamps_keep_instant_and_offset_with_a_standard_tzinfo(text: str) -> None:
    ev = Event.model_validate({"event_id": "t", "timestamp": text, "service": "s"})
    parsed = datetime.fromisoformat(text)
    assert type(ev.timestamp.tzinfo) is timezone  # the C tzinfo: .timestamp() without a Python-level call
    assert ev.timestamp == parsed and ev.timestamp.utcoffset() == parsed.utcoffset()
    assert Event.model_validate_json(ev.model_dump_json()) == ev


# --- event_json: the audit log's events.payload, encoded from the document --------------------------------------

def assert_same_payload(event: Event) -> None:
    want = event.model_dump_json(exclude={"expect"})
    got = event_json(event, event_document(event))
    # the same JSON value, types included (1 and 1.0 differ): readers of events.payload parse it
    assert json.loads(got) == json.loads(want)
    assert json.dumps(json.loads(got)) == json.dumps(json.loads(want))
    assert event_json(event) == want  # without a document: pydantic's own text


def test_event_json_equals_model_dump_json_on_samples_and_corpus() -> None:
    for event in corpus_events():
        assert_same_payload(event)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.fixed_dictionaries({"event_id": st.just("x"), "timestamp": st.just("2025-01-01T00:00:00.5+02:00"),
                              "service": st.just("api")}, optional={
    "title": st.text(max_size=20), "description": st.text(max_size=20),
    "metrics": st.dictionaries(names, finite, max_size=6),
    "labels": st.dictionaries(names, st.text(max_size=10), max_size=4),
}))
def test_event_json_equals_model_dump_json_on_generated_events(doc: dict) -> None:
    assert_same_payload(Event.model_validate(doc))


def test_event_json_ignores_a_document_of_another_event() -> None:
    a = Event.model_validate({"event_id": "a", "timestamp": "2025-01-01T00:00:00Z", "service": "api"})
    b = Event.model_validate({"event_id": "b", "timestamp": "2025-01-01T00:00:00Z", "service": "web"})
    assert json.loads(event_json(a, event_document(b)))["service"] == "api"
