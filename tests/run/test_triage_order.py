"""The triage's order (engine/run/daemon/triage.py), in process: promoted and plain batches alternate (the backlog
is never starved), each service keeps its order, and a file the pre-pass cannot classify stays in its place."""

from __future__ import annotations

from daemon_kit import drop


def _event(name: str, service: str, critical: bool = False, **extra: object) -> dict:
    return {"event_id": name, "timestamp": "2026-01-01T00:00:00Z", "source": "test", "service": service,
            "environment": "production", "title": name, "metrics": {"error_rate": 0.0},
            **({"conditions": {"service_unavailable": True}} if critical else {}), **extra}


def _order(daemon) -> list[str]:
    return [r[0] for r in daemon.audit.conn.execute("SELECT event_id FROM events ORDER BY rowid")]


def test_promoted_and_plain_batches_alternate_so_the_backlog_is_not_starved(make_daemon) -> None:
    daemon = make_daemon(batch=5, triage_every=0, triage_budget=60)
    for i in range(20):
        drop(daemon.spool.incoming, f"a-{i:02d}.json", _event(f"noise-{i:02d}", f"noise-{i}"))
    for i in range(20):
        drop(daemon.spool.incoming, f"b-{i:02d}.json", _event(f"crit-{i:02d}", f"down-{i}", critical=True))
    daemon.run_once()
    order = _order(daemon)
    assert len(order) == 40
    batches = [order[i:i + 5] for i in range(0, 40, 5)]
    assert [b[0].split("-")[0] for b in batches] == ["crit", "noise"] * 4  # a promoted batch, then a plain one
    assert [e for e in order if e.startswith("noise")] == sorted(e for e in order if e.startswith("noise"))
    assert daemon.metrics.promoted._value.get() == 20


def test_a_promoted_file_takes_its_services_earlier_files_and_nothing_later(make_daemon) -> None:
    daemon = make_daemon(batch=4, triage_every=0, triage_budget=60)
    for i in range(12):
        drop(daemon.spool.incoming, f"a-{i:02d}.json", _event(f"e-{i:02d}", "checkout" if i in (3, 9) else f"s-{i}"))
    drop(daemon.spool.incoming, "b-00.json", _event("down", "checkout", critical=True))
    drop(daemon.spool.incoming, "c-00.json", _event("after", "checkout"))
    daemon.run_once()
    order = _order(daemon)
    assert order[:3] == ["e-03", "e-09", "down"]  # its service's earlier files, in order, then the CRITICAL one
    assert order.index("after") > order.index("down") and len(order) == 14


def test_without_a_backlog_and_without_triage_files_keep_name_order(make_daemon) -> None:
    for kwargs in ({"triage": False}, {}):
        daemon = make_daemon(batch=100, triage_every=0, **kwargs)
        for i in range(10):
            drop(daemon.spool.incoming, f"{kwargs}-{i:02d}.json",
                 _event(f"{len(kwargs)}-{i:02d}", f"s-{i}", critical=i == 9))
        daemon.run_once()
        assert _order(daemon)[-10:] == [f"{len(kwargs)}-{i:02d}" for i in range(10)]
        assert daemon.metrics.promoted._value.get() == 0


def test_an_unreadable_or_model_only_file_is_not_promoted(make_daemon) -> None:
    daemon = make_daemon(batch=2, triage_every=0, triage_budget=60)
    for i in range(6):
        drop(daemon.spool.incoming, f"a-{i:02d}.json", _event(f"e-{i:02d}", f"s-{i}"))
    drop(daemon.spool.incoming, "b-bad.json", b"{not json")
    drop(daemon.spool.incoming, "c-labels.json", _event("label", "api", labels={"severity": "critical"}))
    daemon.run_once()
    order = _order(daemon)
    assert order[0] == "label"  # the label-severity rule needs no model: promoted
    assert order[1:] == [f"e-{i:02d}" for i in range(6)]
    assert (daemon.spool.failed / "b-bad.json").exists()
