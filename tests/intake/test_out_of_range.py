"""Values at the edge of what the pipeline can store: rejected at intake as ``schema`` (quarantined with a
reason), or for vendor timestamps replaced by the receive time, never an engine failure later."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from engine.intake import IntakeError, parse

NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)


def canonical(**fields: object) -> bytes:
    return json.dumps({"event_id": "e1", "timestamp": "2025-01-01T00:00:00Z", "service": "api", **fields}).encode()


@pytest.mark.parametrize("timestamp", ["9999-12-31T23:59:59-12:00", "9999-12-31T23:59:59Z",
                                       "0001-01-01T00:00:00+14:00"])
def test_timestamp_whose_utc_time_is_out_of_range_is_a_schema_error(timestamp: str) -> None:
    with pytest.raises(IntakeError) as caught:
        parse(canonical(timestamp=timestamp))
    assert caught.value.code == "schema" and "/timestamp" in caught.value.reason
    assert "out of range" in caught.value.reason


def test_edge_timestamps_that_fit_are_kept() -> None:
    assert parse(canonical(timestamp="0001-01-01T00:00:00Z"))[0].timestamp.year == 1
    assert parse(canonical(timestamp="9998-12-31T00:00:00Z"))[0].timestamp.year == 9998


def test_vendor_timestamp_out_of_range_falls_back_to_the_receive_time() -> None:
    doc = {"version": "4", "groupKey": "g", "status": "firing",
           "alerts": [{"status": "firing", "labels": {"alertname": "X"}, "startsAt": "9999-12-31T23:59:59-12:00"}]}
    [event] = parse(json.dumps(doc).encode(), now=NOW)
    assert event.timestamp == NOW


@pytest.mark.parametrize("ack_time", ["2025-01-01T00:00:00", "9999-12-31T23:59:59-12:00"])
def test_acknowledgement_timestamp_needs_an_offset_and_a_range(ack_time: str) -> None:
    ack = {"type": "ack", "event_id": "a1", "incident_id": "INC-1", "by": "bob", "timestamp": ack_time}
    with pytest.raises(IntakeError) as caught:  # before: a naive time broke sorting it with aware event times
        parse(json.dumps([json.loads(canonical()), ack]).encode())
    assert caught.value.code == "schema" and "/1/timestamp" in caught.value.reason


@pytest.mark.parametrize("fields", [
    {"traces": {"error_spans": 10**30, "total_spans": 10**30}},
    {"traces": {"total_spans": 2**64}},
    {"logs": [{"level": "error", "count": 10**25}]},
])
def test_counts_beyond_what_the_audit_log_stores_are_a_schema_error(fields: dict) -> None:
    with pytest.raises(IntakeError) as caught:  # before: accepted, then TypeError in the audit JSON encoder
        parse(canonical(**fields))
    assert caught.value.code == "schema"


def test_largest_count_is_decided_and_recorded() -> None:
    from engine.model.event import MAX_COUNT, event_json

    [event] = parse(canonical(traces={"error_spans": MAX_COUNT, "total_spans": MAX_COUNT}))
    assert json.loads(event_json(event))["traces"]["total_spans"] == MAX_COUNT
