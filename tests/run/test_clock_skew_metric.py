"""The daemon counts events stamped beyond --max-clock-skew in escalation_clock_skew_total."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from daemon_kit import drop, event


def test_an_event_from_a_fast_clock_is_counted(make_daemon) -> None:
    daemon = make_daemon()
    daemon.pipeline.max_clock_skew = 300.0
    ahead = (datetime.now(UTC) + timedelta(days=3650)).isoformat()
    drop(daemon.spool.incoming, "1-fast.json", event(1, ts=ahead))
    drop(daemon.spool.incoming, "2-now.json", event(2, ts=datetime.now(UTC).isoformat()))
    assert daemon.run_once().done == 2
    assert daemon.metrics.registry.get_sample_value("escalation_clock_skew_total") == 1.0
