"""Multi-signal fusion: a durable-rules join per service, expired at the window's end."""

from __future__ import annotations

CONFIG = """
fusion:
  - id: degradation
    window: 5m
    severity: CRITICAL
    signals:
      log-errors: {derived.log_errors: {gte: 50}}
      latency: {metrics.latency_p99_ms: {gte: 500}}
      trace-errors: {derived.trace_error_ratio: {gte: 0.1}}
"""
LOGS = {"logs": [{"level": "error", "message": "db timeout", "count": 80}], "metrics": {}}
LATENCY = {"metrics": {"latency_p99_ms": 700}}
TRACES = {"traces": {"error_spans": 30, "total_spans": 100}, "metrics": {}}


def _three(h, start=0, gap=60, prefix="s", service="checkout-api"):
    return [h.send(f"{prefix}{i}", start + i * gap, service=service, title=t, **sig)
            for i, (t, sig) in enumerate((("log burst", LOGS), ("latency", LATENCY), ("trace errors", TRACES)))]


def test_three_signals_in_window_make_one_critical_incident_and_one_page(harness):
    h = harness(CONFIG)
    first, second, third = _three(h)
    assert first.severity != "CRITICAL" and first.suppression["outcome"] == "held"
    assert second.incident_id == third.incident_id == first.incident_id == "s0"
    assert third.severity == "CRITICAL" and third.suppression["outcome"] == "fused"
    pages = h.pages()
    assert {p[0] for p in pages} == {"s0"} and {p[2] for p in pages} == {"CRITICAL"}
    assert len(pages) == len({p[1] for p in pages})  # one page per pager
    superseded = h.audit.count("results", "outcome = 'superseded'")
    assert superseded >= 1  # the first signal's held page was replaced by the fused one


def test_signals_outside_the_window_stay_separate(harness):
    h = harness(CONFIG)
    a = h.send("a", 0, title="log burst", **LOGS)
    b = h.send("b", 301, title="latency", **LATENCY)
    c = h.send("c", 302, title="trace errors", **TRACES)
    assert a.incident_id == "a" and b.incident_id == "b" == c.incident_id
    assert all(d.severity != "CRITICAL" for d in (a, b, c))
    assert {p[0] for p in h.pages()} == {"a", "b"}
    expired = h.audit.conn.execute("SELECT kinds FROM fusion_signals WHERE op = 'expired'").fetchall()
    assert expired == [("missing latency, trace-errors",)]


def test_signal_exactly_at_window_end_still_fuses(harness):
    h = harness(CONFIG)
    (*_, last) = _three(h, gap=150)  # third at +300 s = the window's end
    assert last.suppression["outcome"] == "fused"


def test_half_matched_window_expires_and_its_sid_is_deleted(harness):
    h = harness(CONFIG)
    h.send("a", 0, title="log burst", **LOGS)
    h.send("b", 10, title="latency", **LATENCY)
    join = h.pipeline.suppression.fusion
    assert list(join.windows) == ["degradation|checkout-api"]
    h.pipeline.tick(_time(301))
    assert join.windows == {}
    # the durable sid is gone with its half-matched events: the missing signal alone cannot complete a join
    fusion = join.fusions["degradation"]
    window, _ = join.open(fusion, "checkout-api", 400, "probe")
    assert join.post(fusion, window.sid, {"derived": {"trace_error_ratio": 0.5}}, "probe-1") is None


def test_windows_are_bounded(harness):
    h = harness(CONFIG.replace("severity: CRITICAL", "severity: CRITICAL\n    max_windows: 3"))
    for i in range(5):
        h.send(f"x{i}", i, service=f"svc-{i}", title="log burst", **LOGS)
    join = h.pipeline.suppression.fusion
    assert sorted(w.service for w in join.windows.values()) == ["svc-2", "svc-3", "svc-4"]
    assert h.audit.count("fusion_signals", "op = 'evicted'") == 2


def test_restart_in_the_middle_of_a_window_still_fuses(harness):
    h = harness(CONFIG)
    h.send("s0", 0, title="log burst", **LOGS)
    h.send("s1", 60, title="latency", **LATENCY)
    h.audit.close()
    h.restart()  # a new Pipeline on the same sqlite file: windows re-posted from fusion_signals
    third = h.send("s2", 120, title="trace errors", **TRACES)
    assert third.incident_id == "s0" and third.severity == "CRITICAL"
    assert third.suppression["outcome"] == "fused"
    assert {p[2] for p in h.pages("s0")} == {"CRITICAL"}


def test_signal_already_at_fused_severity_is_not_held(harness):
    h = harness(CONFIG.replace("severity: CRITICAL", "severity: MODERATE"))
    d = h.send("a", 0, title="latency", metrics={"latency_p99_ms": 1500})  # MAJOR on its own
    assert d.suppression is None or d.suppression["outcome"] == "new"
    assert h.pipeline.suppression.fusion.windows == {}


def _time(seconds):
    from datetime import timedelta

    from tests.suppress.conftest import T0

    return T0 + timedelta(seconds=seconds)


def test_window_whose_incident_closed_starts_over(harness):
    h = harness(CONFIG)
    h.send("s0", 0, title="log burst", **LOGS)
    h.send("s0-ok", 10, title="log burst", status="resolved", **LOGS)  # closes incident s0
    again = h.send("s1", 20, title="latency", **LATENCY)
    assert again.incident_id == "s1" and again.suppression["outcome"] == "held"


def test_windows_ending_together_expire_in_opening_order(harness):
    h = harness(CONFIG + """
  - id: quick
    window: 1m
    severity: CRITICAL
    signals:
      cpu: {metrics.cpu_utilization: {gte: 0.9}}
      memory: {metrics.memory_utilization: {gte: 0.9}}
""")
    h.send("slow", 0, service="a-api", title="latency", **LATENCY)  # degradation: its window ends at +300
    h.send("fast", 10, service="b-api", title="cpu", metrics={"cpu_utilization": 0.95})  # quick: ends at +70
    assert sorted(h.pipeline.suppression.fusion.windows) == ["degradation|a-api", "quick|b-api"]
    h.pipeline.tick(_time(60))  # nothing has ended yet
    assert h.audit.count("fusion_signals", "op = 'expired'") == 0
    h.pipeline.tick(_time(400))  # both have: the rows follow the order the windows opened in
    expired = h.audit.conn.execute("SELECT sid FROM fusion_signals WHERE op = 'expired' ORDER BY id").fetchall()
    assert expired == [("degradation|a-api",), ("quick|b-api",)]


def test_fusion_conditions_do_not_see_the_deciders_history_facts(harness):
    h = harness("""
fusion:
  - id: odd
    window: 5m
    severity: CRITICAL
    signals:
      any-history: {history.moderate_1h: {gte: 0}}
      latency: {metrics.latency_p99_ms: {gte: 500}}
""")
    d = h.send("a", 0, title="latency", **LATENCY)
    assert "history" in d.event_doc  # the decision has history.* facts, the event itself does not
    kinds = h.audit.conn.execute("SELECT kinds FROM fusion_signals WHERE op = 'signal'").fetchall()
    assert kinds == [("latency",)]


def test_first_signal_reason_says_whether_pages_are_held(harness):
    held = harness(CONFIG).send("a", 0, title="log burst", **LOGS)
    assert held.suppression["reason"].endswith("pages held until 2025-01-06T10:05:00.000Z")
    not_held = harness(CONFIG.replace("window: 5m", "window: 5m\n    hold: 0s")).send("a", 0, title="log burst", **LOGS)
    assert not_held.suppression["reason"] == "fusion degradation: first signal (log-errors); pages not held (hold 0s)"


def test_a_text_signal_fuses_as_the_evaluator_says(harness):
    """Text conditions reach the join as derived booleans (evaluated with RE2 before posting):
    durable-rules' own regex engine did not match "Checkout Degraded" for this pattern."""
    h = harness("""
fusion:
  - id: degraded-and-slow
    window: 5m
    severity: CRITICAL
    signals:
      said-degraded: {title: {matches: ".*[Dd]egrad.*"}}
      latency: {metrics.latency_p99_ms: {gte: 500}}
""")
    first = h.send("t0", 0, title="Checkout Degraded", metrics={})
    second = h.send("t1", 60, title="latency", **LATENCY)
    assert first.suppression["outcome"] == "held"
    assert second.severity == "CRITICAL" and second.suppression["outcome"] == "fused"
    assert second.incident_id == "t0"
