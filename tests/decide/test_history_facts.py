"""Historical context facts: per-service incident counts from the audit log, in event time."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from intel_kit import as_bytes, event_dict

from engine.decide.classify import NO_MODEL
from engine.decide.history import AuditHistory
from engine.run.pipeline import Pipeline
from engine.run.simulate import simulate
from engine.store.audit import Audit

SLOW = {"latency_p99_ms": 600.0}  # MODERATE by threshold (latency-elevated)


def decide(pipeline: Pipeline, event_id: str, ts: str, service: str = "checkout",
           metrics: dict[str, float] | None = None) -> tuple[str, list[str]]:
    doc = event_dict(event_id, ts, service=service, metrics=metrics or SLOW)
    result = pipeline.process(f"{event_id}.json", as_bytes(doc))
    assert result.ok, result.reason
    d = result.decisions[0]
    return d.severity, d.fired_rules


@pytest.fixture
def pipeline(tmp_path: Path, compiled) -> Pipeline:
    return Pipeline(compiled, Audit(tmp_path / "audit.db"), model=NO_MODEL)


def test_third_moderate_within_an_hour_becomes_major(pipeline: Pipeline) -> None:
    assert decide(pipeline, "m1", "2025-03-01T10:00:00Z")[0] == "MODERATE"
    assert decide(pipeline, "m2", "2025-03-01T10:20:00Z")[0] == "MODERATE"
    severity, fired = decide(pipeline, "m3", "2025-03-01T10:40:00Z")
    assert severity == "MAJOR" and fired[0] == "severity:repeated-moderate"
    assert pipeline.decider.history is not None
    facts = pipeline.decider.history("checkout", datetime.fromisoformat("2025-03-01T10:50:00+00:00"))
    assert (facts["moderate_1h"], facts["major_1h"], facts["critical_1h"]) == (2, 1, 0)
    assert facts["last_severity"] == "MAJOR" and facts["seconds_since_last"] == 600.0


def test_other_services_and_calm_events_do_not_count(pipeline: Pipeline) -> None:
    decide(pipeline, "a1", "2025-03-01T10:00:00Z", service="search")
    decide(pipeline, "a2", "2025-03-01T10:10:00Z", service="search")
    assert decide(pipeline, "b1", "2025-03-01T10:20:00Z")[0] == "MODERATE"
    assert decide(pipeline, "b2", "2025-03-01T10:30:00Z", metrics={"latency_p99_ms": 100.0})[0] == "NONE"
    assert decide(pipeline, "b3", "2025-03-01T10:40:00Z")[0] == "MODERATE"  # only one MODERATE before
    # a calm event after two MODERATEs is not a third MODERATE: the rule needs a MODERATE signal
    assert decide(pipeline, "b4", "2025-03-01T10:50:00Z", metrics={"latency_p99_ms": 100.0})[0] == "NONE"


@pytest.mark.parametrize(("third", "severity"), [
    ("2025-03-01T10:59:59Z", "MAJOR"),   # first MODERATE 59:59 ago: inside the hour
    ("2025-03-01T11:00:00Z", "MODERATE"),  # exactly one hour ago: outside (window is (t-1h, t])
])
def test_one_hour_window_boundary(pipeline: Pipeline, third: str, severity: str) -> None:
    decide(pipeline, "w1", "2025-03-01T10:00:00Z")
    decide(pipeline, "w2", "2025-03-01T10:30:00Z")
    assert decide(pipeline, "w3", third)[0] == severity


def test_windows_by_severity_and_out_of_order_events(pipeline: Pipeline) -> None:
    decide(pipeline, "c1", "2025-03-01T00:00:00Z", metrics={"availability": 0.1})  # CRITICAL
    decide(pipeline, "j1", "2025-03-05T00:00:00Z", metrics={"latency_p99_ms": 1500.0})  # MAJOR
    decide(pipeline, "late", "2025-03-07T23:30:00Z")  # MODERATE, stamped after "now" below
    history = AuditHistory(pipeline.audit.history_rows())
    now = datetime.fromisoformat("2025-03-07T23:00:00+00:00")
    facts = history("checkout", now)
    assert (facts["critical_7d"], facts["critical_24h"], facts["major_7d"], facts["major_24h"]) == (1, 0, 1, 0)
    assert facts["moderate_7d"] == 0  # the later-stamped event is not history yet
    assert facts["last_severity"] == "MAJOR"
    assert history("checkout", datetime.fromisoformat("2025-03-08T00:00:00+00:00"))["critical_7d"] == 0
    assert history("nobody", now) == {f"{s}_{w}": 0 for w in ("1h", "24h", "7d")
                                      for s in ("critical", "major", "moderate")}


def test_history_survives_a_new_pipeline_on_the_same_sqlite(tmp_path: Path, compiled) -> None:
    db = tmp_path / "audit.db"
    first = Pipeline(compiled, Audit(db), model=NO_MODEL)
    decide(first, "r1", "2025-03-01T10:00:00Z")
    decide(first, "r2", "2025-03-01T10:10:00Z")
    first.audit.close()
    second = Pipeline(compiled, Audit(db), model=NO_MODEL)
    assert decide(second, "r3", "2025-03-01T10:20:00Z")[0] == "MAJOR"


def test_simulate_sees_history_in_file_order(tmp_path: Path, compiled) -> None:
    for i, ts in enumerate(("10:00:00", "10:20:00", "10:40:00")):  # apart: not grouped as one incident
        (tmp_path / f"{i}.json").write_bytes(as_bytes(event_dict(f"s{i}", f"2025-03-01T{ts}Z", metrics=SLOW)))
    outcomes = simulate(compiled, [tmp_path], model=None)
    assert [o.decisions[0]["severity"] for o in outcomes] == ["MODERATE", "MODERATE", "MAJOR"]


def test_repeats_grouped_into_one_incident_count_once(pipeline: Pipeline) -> None:
    decide(pipeline, "g1", "2025-03-01T10:00:00Z")
    decide(pipeline, "g2", "2025-03-01T10:02:00Z")  # same service within group_interval: same incident
    assert decide(pipeline, "g3", "2025-03-01T10:30:00Z")[0] == "MODERATE"
    history = AuditHistory(pipeline.audit.history_rows())
    assert history("checkout", datetime.fromisoformat("2025-03-01T10:29:00+00:00"))["moderate_1h"] == 1


def test_history_inside_one_batch_sees_the_batch_own_decisions(pipeline: Pipeline) -> None:
    """Rows are written at commit; history still counts the decisions made earlier in the same batch,
    including a service first seen mid-batch and an event that arrives out of order."""
    docs = [event_dict("x1", "2025-03-01T10:00:00Z", service="search", metrics=SLOW),
            event_dict("x2", "2025-03-01T10:10:00Z", metrics=SLOW),
            event_dict("x3", "2025-03-01T10:20:00Z", metrics=SLOW),
            event_dict("x4", "2025-03-01T10:30:00Z", service="search", metrics=SLOW),
            event_dict("x5", "2025-03-01T10:40:00Z", metrics=SLOW)]
    results = pipeline.process_batch([(f"{d['event_id']}.json", as_bytes(d), None) for d in docs])
    severities = {r.decisions[0].event_id: r.decisions[0].severity for r in results}
    assert severities == {"x1": "MODERATE", "x2": "MODERATE", "x3": "MODERATE", "x4": "MODERATE", "x5": "MAJOR"}
    late = event_dict("x0", "2025-03-01T10:05:00Z", metrics=SLOW)  # before x2: answered from sqlite
    y = event_dict("y1", "2025-03-01T10:45:00Z", service="search", metrics=SLOW)
    results = pipeline.process_batch([("y1.json", as_bytes(y), None), ("x0.json", as_bytes(late), None)])
    assert results[0].decisions[0].severity == "MAJOR"  # x1, x4 of this service, then y1: third in the hour
    assert results[1].decisions[0].event_doc["history"]["moderate_1h"] == 0  # x0 at 10:05 sees nothing before it
    exact = AuditHistory(pipeline.audit.history_rows())
    at = datetime.fromisoformat("2025-03-01T10:50:00+00:00")
    assert pipeline.history("checkout", at) == exact._query("checkout", at.timestamp())
