"""event_fact: only the fields the rules reference are posted to the engine, nested as in the event."""

from __future__ import annotations

from engine.durable import event_fact

DOC = {"service": "api", "title": "t", "environment": None,
       "metrics": {"cpu_utilization": 0.9, "error_rate": 0.1, "availability": 1.0},
       "labels": {"team": "pay", "tier": "1"}}


def test_picks_referenced_top_level_and_nested_fields_only() -> None:
    fact = event_fact(DOC, ("service", "environment", "metrics.cpu_utilization", "metrics.latency_p99_ms"))
    assert fact == {"service": "api", "metrics": {"cpu_utilization": 0.9}}  # None and missing are left out


def test_a_field_referenced_whole_and_nested_is_posted_whole_and_the_doc_is_untouched() -> None:
    for paths in (("labels", "labels.team"), ("labels.team", "labels")):
        fact = event_fact(DOC, paths)
        assert fact == {"labels": {"team": "pay", "tier": "1"}}
    assert DOC["labels"] == {"team": "pay", "tier": "1"}


def test_nested_path_under_a_non_mapping_is_skipped() -> None:
    assert event_fact({"metrics": 5}, ("metrics.cpu_utilization",)) == {}
