"""Silences and weekly maintenance windows (T0 is Monday 2025-01-06 10:00 UTC)."""

from __future__ import annotations

SILENCES = """
silences:
  - id: deploy-freeze
    matchers: ['service="checkout-api"', 'labels.team=~"pay.*"']
    starts_at: 2025-01-06T09:00:00Z
    ends_at: 2025-01-06T11:00:00Z
    author: dana@company.com
    reason: payment provider migration
  - id: old-one
    matchers: ['service="search-api"']
    starts_at: 2024-01-01T00:00:00Z
    ends_at: 2024-01-02T00:00:00Z
    author: ops@company.com
    reason: expired long ago
"""


def test_active_silence_suppresses_with_author_and_reason(harness):
    h = harness(SILENCES)
    d = h.send("e1", 0, labels={"team": "payments"})
    assert d.intents == [] and d.suppression["mechanism"] == "silence"
    assert "deploy-freeze by dana@company.com: payment provider migration" in d.suppression["reason"]
    assert h.audit.seen("e1")  # still recorded


def test_all_matchers_must_match(harness):
    h = harness(SILENCES)
    assert h.send("e1", 0, labels={"team": "search"}).suppression["outcome"] == "new"


def test_expired_silence_no_longer_applies(harness):
    h = harness(SILENCES)
    assert h.send("e1", 0, service="search-api").suppression["outcome"] == "new"


def test_silence_ends_exactly_at_ends_at(harness):
    h = harness(SILENCES)
    assert h.send("e1", 3599, labels={"team": "payments"}, fingerprint="a").suppression["mechanism"] == "silence"
    assert h.send("e2", 3600, labels={"team": "payments"}, fingerprint="b").suppression["outcome"] == "new"


MAINTENANCE = """
maintenance:
  - id: monday-morning
    matchers: ['service="batch-etl"']
    weekly: {days: [mon], start: "09:00", end: "10:30", utc_offset: "Z"}
    author: data@company.com
    reason: reindex
  - id: monday-late-morning
    matchers: ['service="batch-etl"']
    weekly: {days: [mon], start: "10:15", end: "11:00", utc_offset: "Z"}
    author: data@company.com
    reason: vacuum
  - id: overnight-berlin
    matchers: ['service="night-job"']
    weekly: {days: [sun], start: "23:00", end: "02:00", utc_offset: "+01:00"}
    author: ops@company.com
    reason: backups
"""


def test_overlapping_windows_suppress_until_the_last_one_ends(harness):
    h = harness(MAINTENANCE)
    only_first = h.send("a", 0, service="batch-etl", fingerprint="a")  # 10:00
    both = h.send("b", 20 * 60, service="batch-etl", fingerprint="b")  # 10:20
    only_second = h.send("c", 45 * 60, service="batch-etl", fingerprint="c")  # 10:45
    after = h.send("d", 60 * 60, service="batch-etl", fingerprint="d")  # 11:00
    assert "monday-morning" in only_first.suppression["reason"]
    assert "monday-morning" in both.suppression["reason"] and "monday-late-morning" in both.suppression["reason"]
    assert only_second.suppression["mechanism"] == "maintenance" and "monday-morning" not in only_second.suppression[
        "reason"]
    assert after.suppression["outcome"] == "new"


def test_window_wraps_past_midnight_in_its_own_offset(harness):
    h = harness(MAINTENANCE)
    # Monday 00:30 in +01:00 is Sunday 23:30 UTC... the window is Sunday 23:00 → Monday 02:00 local
    inside = h.send("a", -10 * 3600 + 30 * 60 - 3600, service="night-job", fingerprint="a")  # Mon 00:30 +01:00
    outside = h.send("b", -10 * 3600 + 3 * 3600 - 3600, service="night-job", fingerprint="b")  # Mon 03:00 +01:00
    assert inside.suppression["mechanism"] == "maintenance"
    assert outside.suppression["outcome"] == "new"
