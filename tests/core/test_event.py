"""The canonical event model and its JSON Schema stay in step; typos are rejected."""

from __future__ import annotations

import json

import pytest
from core_util import SAMPLES
from jsonschema import Draft202012Validator
from pydantic import ValidationError

from engine.event import SCHEMA_PATH, Event, derive, json_schema


def test_schema_file_is_generated_from_the_model() -> None:
    assert json.loads(SCHEMA_PATH.read_text()) == json_schema(), "run: python -m engine.event"


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
