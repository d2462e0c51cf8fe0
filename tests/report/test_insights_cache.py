"""The per-incident cache (engine.store.insights_cache) gives exactly what the contract views give.

Every view the reports read and whole reports (metrics JSON, the executive summary) are compared
between a store reading the cache and one reading the views alone (``cache=False``), over windows
that cut through a day, with incidents still open; then after more rows arrive (new incidents, late
acks, resolves and escalations of old ones), after a prune, and when another log replaces the file.
"""

from __future__ import annotations

import random
import shutil
import sqlite3
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from insights_kit import DAY, Truth, Writer, random_history

from engine.report import insights_render, metrics_report, summary
from engine.store import insights_cache
from engine.store.audit import Audit
from engine.store.metrics_views import VIEWS, InsightsStore
from engine.store.retention import prune

T0 = datetime(2026, 11, 2, tzinfo=ZoneInfo("UTC")).timestamp()
READ = [v for v in VIEWS if v != "insight_pages"]  # every view with a start_epoch (pages have none)
WINDOWS = [(T0 + 2.3 * DAY + 1234.5, T0 + 9.71 * DAY), (T0, T0 + 21 * DAY), (T0 + 6.5 * DAY, T0 + 7.25 * DAY)]


def snapshot(path: Path, cache: bool) -> dict:
    """Every view's rows for every window, and the reports' JSON, read one way."""
    out: dict = {}
    with InsightsStore.open(path, cache=cache) as store:
        assert store.cached is cache
        for since, until in WINDOWS:
            for view in READ:
                rows = store.rows(view, since, until)
                key = "event_id" if view == "metric_false_positive" else "incident_id"
                out[view, since] = sorted(rows, key=lambda r: (r[key], str(sorted(r.items()))))
            out["remediations", since] = sorted(store.remediations(since, until),
                                                key=lambda r: (r["incident_id"], r["action"]))
            out["points", since] = sorted(store.points(since - 20 * DAY, until, until - 5 * DAY),
                                          key=lambda r: r["incident_id"])
            out["hashes", since] = store.rules_hashes(since, until)
            out["metrics", since] = insights_render.to_json(metrics_report.build(store, since, until, "UTC"))
            out["summary", since] = insights_render.markdown(summary.build(store, since, until, "Europe/Paris"))
    return out


def assert_same(path: Path) -> None:
    fast, views = snapshot(path, True), snapshot(path, False)
    assert fast.keys() == views.keys()
    for key in views:
        assert fast[key] == views[key], key
    assert any(fast[view, WINDOWS[0][0]] for view in READ)  # not vacuously equal


def more(path: Path, seed: int) -> None:
    """New incidents, and late updates to old ones: an ack, a resolve, a close, a backup page."""
    rng = random.Random(seed)
    w = Writer(path)
    w.n = 1_000_000 * seed  # its keys (actions, updates) continue after the first writer's
    c = w.conn
    open_ids = [r[0] for r in c.execute("SELECT incident_id FROM insight_lifecycle WHERE resolve_epoch IS NULL "
                                        "AND page_epoch IS NOT NULL ORDER BY incident_id").fetchall()]
    assert len(open_ids) >= 4
    late = T0 + 15 * DAY
    for k, incident in enumerate(open_ids[:4]):
        t = Truth(incident, "payment-api", "backend", "MAJOR", 0, 0, targets=("alice@x", "carol@x"))
        if k == 0:
            w._update(t, "ack", late)
        elif k == 1:
            w._update(t, "resolve", late + 60)
        elif k == 2:
            c.execute("INSERT INTO incidents (incident_id, op, event_id, at, severity, reason, state, rules_hash) "
                      "VALUES (?, 'close', ?, '2026-11-17T00:10:00.000Z', 'MAJOR', 'resolved', '{}', 'ab')",
                      (incident, incident + ":late"))
        else:
            w._page(t, 1, late + 5, ("carol@x",))
    for k in range(30):
        t0 = T0 + rng.uniform(14, 20) * DAY
        t = Truth(f"NEW-{seed}-{k:03d}", rng.choice(["payment-api", "auth-service"]), "backend",
                  rng.choice(["CRITICAL", "MAJOR", "NONE"]), t0, t0 + 1, targets=("bob@x", "carol@x"))
        if t.severity != "NONE":
            t.page = t.decided + 1
            t.ack = t.page + rng.uniform(10, 900) if rng.random() < 0.6 else None
        w.add(t)
    w.close()


@pytest.fixture()
def log(tmp_path: Path) -> Path:
    return random_history(tmp_path / "audit.db", 300, T0, days=14).path


def test_the_cache_and_the_views_agree_on_every_row_and_report(log: Path) -> None:
    log.chmod(0o600)
    assert_same(log)
    assert insights_cache.location(log) == Path(f"{log}.insights")
    assert Path(f"{log}.insights").stat().st_mode & 0o777 == 0o600  # it holds what the log holds


def test_rows_written_after_a_refresh_are_picked_up_incrementally(log: Path) -> None:
    assert_same(log)
    more(log, 1)
    conn = sqlite3.connect(log, isolation_level=None)
    insights_cache.attach(conn, insights_cache.location(log))
    assert insights_cache.refresh(conn) == 34  # 30 new incidents and the 4 old ones with late rows, no others
    assert insights_cache.refresh(conn) == 0
    conn.close()
    more(log, 2)
    assert_same(log)


def test_a_prune_drops_the_incidents_that_left_the_log(log: Path) -> None:
    assert_same(log)
    audit = Audit(log)
    try:
        assert prune(audit, T0 + 7 * DAY)["incidents"] > 0
    finally:
        audit.close()
    assert_same(log)


def test_another_log_in_the_same_place_rebuilds_it(log: Path, tmp_path: Path) -> None:
    assert_same(log)
    other = random_history(tmp_path / "other.db", 120, T0, seed=99, days=14).path
    for suffix in ("", "-wal", "-shm"):
        Path(f"{log}{suffix}").unlink(missing_ok=True)
    shutil.copy(other, log)
    assert_same(log)


def test_an_unwritable_cache_falls_back_to_the_views(log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ESCALATION_INSIGHTS_CACHE", str(log.parent / "no-such-dir" / "cache.db"))
    with InsightsStore.open(log) as store:
        assert store.cached is False
        assert store.rows("metric_mttd", T0, T0 + 14 * DAY)
    monkeypatch.setenv("ESCALATION_INSIGHTS_CACHE", "off")
    assert insights_cache.location(log) is None
