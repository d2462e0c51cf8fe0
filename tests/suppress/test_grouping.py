"""Grouping (Alertmanager's group_by / group_wait / group_interval / repeat_interval)."""

from __future__ import annotations

from tests.suppress.conftest import at

CONFIG = """
dedup: {window: 1h}
grouping:
  group_by: [service]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 1h
"""


def test_a_storm_becomes_one_incident_and_one_page(harness):
    h = harness(CONFIG)
    decisions = [h.send(f"e{i}", i, title=f"alert {i}") for i in range(10)]
    assert {d.incident_id for d in decisions} == {"e0"}
    assert [d.suppression["outcome"] for d in decisions[1:]] == ["attached"] * 9
    pages = h.pages()
    assert {p[0] for p in pages} == {"e0"} and len(pages) == len({p[1] for p in pages})


def test_group_wait_delays_the_first_notification(harness):
    h = harness(CONFIG)
    h.send("e0", 0)
    assert {a["due_at"] for a in h.actions("page") if a["step"] == 0} == {at(30).replace("Z", ".000Z")}


def test_member_after_group_wait_sends_one_update_per_group_interval(harness):
    h = harness(CONFIG)
    h.send("e0", 0, title="a")
    h.send("e1", 10, title="b")  # inside group_wait: part of the first notification
    first = h.send("e2", 60, title="c")  # after group_wait: update due at last notification + group_interval
    second = h.send("e3", 90, title="d")  # an update is already scheduled: nothing new
    updates = [a for a in h.actions("notify") if a["step"] >= 1]
    assert first.intents and not second.intents
    assert {a["due_at"] for a in updates} == {at(330).replace("Z", ".000Z")}
    third = h.send("e4", 400, title="e")  # after that update: the next one at 330 + 300
    assert third.intents and all(i.step == 2 for i in third.intents)
    assert {a["due_at"] for a in h.actions("notify") if a["step"] == 2} == {at(630).replace("Z", ".000Z")}
    assert all(i.kind == "notify" for d in (first, third) for i in d.intents)  # nobody is paged again


def test_repeat_interval_renotifies_a_repeat(harness):
    h = harness(CONFIG)
    h.send("e0", 0, fingerprint="fp")
    assert not h.send("e1", 1800, fingerprint="fp").intents  # 30 min after the first notification
    again = h.send("e2", 3630, fingerprint="fp")  # first notification at +30 s, repeat_interval 1 h
    assert again.intents and again.suppression["outcome"] == "repeat"


def test_other_groups_are_separate(harness):
    h = harness(CONFIG)
    a = h.send("a", 0, service="checkout-api")
    b = h.send("b", 1, service="search-api")
    assert a.incident_id == "a" and b.incident_id == "b"


def test_more_severe_member_upgrades_the_group_incident(harness):
    h = harness(CONFIG)
    h.send("e0", 0)
    up = h.send("e1", 10, title="down", conditions={"service_unavailable": True})
    assert up.incident_id == "e0" and up.severity == "CRITICAL" and up.suppression["outcome"] == "upgraded"
    severities = {p[2] for p in h.pages("e0")}
    assert severities == {"CRITICAL"}  # the held MODERATE page was superseded before it was due


def test_group_wait_is_timed_from_intake_like_the_steps(harness):
    """An event taken in an hour after its timestamp (a backlog after an outage): the group_wait hold and the
    backup step count from intake, as steps without a hold do; the backup is not paged with the primary."""
    h = harness(CONFIG)
    h.send("e0", 0, service="payment-api", intake=3600, **{"conditions": {"service_unavailable": True}})
    due = {(a["action"], a["step"]): a["due_at"] for a in h.actions("page")}
    assert due[("pagerduty", 0)] == at(3630).replace("Z", ".000Z")
    assert due[("pagerduty", 1)] == at(3630 + 300).replace("Z", ".000Z")


def test_group_update_is_timed_from_intake(harness):
    h = harness(CONFIG)
    h.send("e0", 0, title="a", intake=0)
    h.send("e1", 60, title="b", intake=600)  # taken in 9 min late: update due 270 s after its intake
    assert {a["due_at"] for a in h.actions("notify") if a["step"] >= 1} == {at(870).replace("Z", ".000Z")}
