"""A monitor whose clock runs ahead cannot mute a service: beyond the bound, an event is decided at intake time."""

from __future__ import annotations

TEN_YEARS = 10 * 365 * 86400
DOWN = {"title": "down", "conditions": {"service_unavailable": True}}


def bounded(harness, suppression: str):
    h = harness(suppression)
    h.pipeline.max_clock_skew = 300.0  # what `rules run` passes (--max-clock-skew, default 300 s)
    return h


def test_an_event_ten_years_ahead_does_not_make_the_correct_resolve_stale(harness) -> None:
    h = bounded(harness, "dedup: {window: 5m}\n")
    h.send("fast", TEN_YEARS, intake=0, fingerprint="fp", **DOWN)
    closed = h.send("resolve", 60, fingerprint="fp", status="resolved", **DOWN)
    assert closed.suppression["outcome"] == "closed" and closed.incident_id == "fast"
    later = h.send("again", 3600, fingerprint="fp", **DOWN)  # a new outage an hour later pages
    assert later.suppression["outcome"] == "new" and h.pages("again")


def test_the_skew_is_recorded_in_intake_and_counted(harness) -> None:
    h = bounded(harness, "dedup: {window: 5m}\n")
    h.send("fast", TEN_YEARS, intake=0, fingerprint="fp")
    h.send("fine", 200, intake=0, fingerprint="fp2")  # 200 s ahead: within the bound, kept as stamped
    rows = dict(h.audit.conn.execute("SELECT event_id, code || '|' || reason FROM intake").fetchall())
    assert rows["fine"] == "|"
    code, reason = rows["fast"].split("|")
    assert code == "clock-skew" and f"is {TEN_YEARS} s ahead of intake (bound 300 s)" in reason
    assert "2035-01-04T10:00:00" in reason  # the original timestamp is kept in the record
    stamps = dict(h.audit.conn.execute("SELECT event_id, json_extract(payload, '$.timestamp') FROM events"))
    assert stamps["fast"].startswith("2025-01-06T10:00:00")  # decided at intake time


def test_without_a_bound_replays_keep_their_timestamps(harness) -> None:
    h = harness("dedup: {window: 5m}\n")  # rules simulate: no bound
    h.send("fast", TEN_YEARS, intake=0, fingerprint="fp", **DOWN)
    stale = h.send("resolve", 60, fingerprint="fp", status="resolved", **DOWN)
    assert stale.suppression["outcome"] != "closed"
