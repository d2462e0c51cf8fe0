"""Inhibition: an open CRITICAL mutes MODERATEs (with and without ``equal``)."""

from __future__ import annotations

WITH_EQUAL = """
inhibit:
  - id: crit-mutes-moderate
    source: ['severity="CRITICAL"']
    target: ['severity="MODERATE"']
    equal: [service]
"""
DOWN = {"title": "down", "conditions": {"service_unavailable": True}}


def test_critical_mutes_moderate_of_the_same_service(harness):
    h = harness(WITH_EQUAL)
    h.send("crit", 0, service="checkout-api", **DOWN)
    muted = h.send("mod", 10, service="checkout-api", title="errors")
    assert muted.severity == "MODERATE" and muted.intents == []
    assert muted.suppression["mechanism"] == "inhibit" and "crit" in muted.suppression["reason"]
    assert h.suppressions("mod")[0][:2] == ("suppressed", "inhibit")


def test_equal_labels_must_match(harness):
    h = harness(WITH_EQUAL)
    h.send("crit", 0, service="checkout-api", **DOWN)
    other = h.send("mod", 10, service="search-api", title="errors")
    assert other.intents and other.suppression["outcome"] == "new"


def test_without_equal_any_open_critical_mutes(harness):
    h = harness(WITH_EQUAL.replace("    equal: [service]\n", ""))
    h.send("crit", 0, service="checkout-api", **DOWN)
    assert h.send("mod", 10, service="search-api", title="errors").suppression["mechanism"] == "inhibit"


def test_inhibition_ends_when_the_source_closes(harness):
    h = harness(WITH_EQUAL)
    h.send("crit", 0, service="checkout-api", **DOWN)
    h.send("crit-ok", 20, service="checkout-api", status="resolved", **DOWN)
    assert h.send("mod", 30, service="checkout-api", title="errors").suppression["outcome"] == "new"


def test_label_equal_and_label_matchers(harness):
    h = harness("""
inhibit:
  - id: zone-down
    source: ['labels.alertname="ZoneDown"']
    target: ['labels.alertname!="ZoneDown"']
    equal: [labels.zone]
""")
    h.send("zone", 0, service="edge", title="zone", labels={"alertname": "ZoneDown", "zone": "eu-1"}, **{
        "conditions": {"service_unavailable": True}})
    assert h.send("a", 5, service="api", labels={"zone": "eu-1"}).suppression["mechanism"] == "inhibit"
    assert h.send("b", 6, service="api2", labels={"zone": "us-1"}).suppression["outcome"] == "new"


STALE = "dedup: {window: 5m}\n" + WITH_EQUAL


def test_a_source_idle_longer_than_the_dedup_window_no_longer_mutes(harness):
    """A CRITICAL whose alert stopped repeating (no resolve) is over for dedup — its next repeat opens a new
    incident — so it must not mute that service's MODERATEs for hours afterwards."""
    h = harness(STALE)
    h.send("crit", 0, service="checkout-api", **DOWN)
    assert h.send("mod", 300, service="checkout-api", title="errors").suppression["mechanism"] == "inhibit"
    later = h.send("mod2", 3 * 3600, service="checkout-api", title="errors 2")
    assert later.suppression["outcome"] == "new" and later.intents


def test_stale_source_is_skipped_for_a_live_one_and_after_restart(harness):
    h = harness(STALE)
    h.send("old", 0, service="checkout-api", fingerprint="old", **DOWN)
    h.send("new", 3600, service="checkout-api", fingerprint="new", **DOWN)
    h.audit.close()
    h.restart()
    muted = h.send("mod", 3700, service="checkout-api", title="errors")
    assert muted.suppression["mechanism"] == "inhibit" and "incident new " in muted.suppression["reason"]
    assert h.send("mod2", 3600 + 301, service="checkout-api", title="x").suppression["outcome"] == "new"
