"""Deduplication: repeats of a fingerprint within the window count on the open incident."""

from __future__ import annotations

CONFIG = "dedup:\n  window: 5m\n"


def test_repeat_within_window_keeps_incident_id_and_pages_nobody(harness):
    h = harness(CONFIG)
    first = h.send("e1", 0, fingerprint="fp-1")
    repeat = h.send("e2", 60, fingerprint="fp-1")
    assert first.incident_id == repeat.incident_id == "e1"
    assert repeat.intents == []
    assert repeat.suppression["outcome"] == "repeat" and repeat.suppression["mechanism"] == "dedup"
    assert len({p[1] for p in h.pages()}) == len(h.pages())  # one page per pager, all for e1
    assert {p[0] for p in h.pages()} == {"e1"}
    assert h.suppressions("e2")[0][:2] == ("repeat", "dedup")


def test_repeat_exactly_at_window_end_is_still_a_repeat(harness):
    h = harness(CONFIG)
    h.send("e1", 0, fingerprint="fp-1")
    assert h.send("e2", 300, fingerprint="fp-1").incident_id == "e1"  # window measured from the last repeat
    assert h.send("e3", 600, fingerprint="fp-1").incident_id == "e1"


def test_repeat_after_window_opens_a_new_incident(harness):
    h = harness(CONFIG)
    h.send("e1", 0, fingerprint="fp-1")
    later = h.send("e2", 301, fingerprint="fp-1")
    assert later.incident_id == "e2" and later.intents
    assert {p[0] for p in h.pages()} == {"e1", "e2"}


def test_default_fingerprint_is_service_and_title(harness):
    h = harness(CONFIG)
    h.send("e1", 0, title="Disk full")
    assert h.send("e2", 10, title="Disk full").incident_id == "e1"
    assert h.send("e3", 20, title="Other alert").incident_id == "e3"


def test_configured_fields_define_the_fingerprint(harness):
    h = harness("dedup:\n  window: 5m\n  fields: [service, labels.alertname]\n")
    h.send("e1", 0, title="a", labels={"alertname": "HighErrors"})
    assert h.send("e2", 10, title="b", labels={"alertname": "HighErrors"}).incident_id == "e1"
    assert h.send("e3", 20, title="a", labels={"alertname": "Other"}).incident_id == "e3"


def test_state_survives_restart(harness):
    h = harness(CONFIG)
    h.send("e1", 0, fingerprint="fp-1")
    h.restart()
    assert h.send("e2", 60, fingerprint="fp-1").incident_id == "e1"
