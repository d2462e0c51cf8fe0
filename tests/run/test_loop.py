"""The loop around the pipeline: the sorted queue, batches of what is waiting, the idle wait, outbox slices."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from daemon_kit import drop, event, wait_for

from engine.run.daemon import spool as spool_module
from engine.run.daemon.heap import GC_YOUNG_THRESHOLD
from engine.run.daemon.outbox import Stats
from engine.run.daemon.spool import Spool
from engine.run.execute import ActionReport


def _name(i: int) -> str:
    return f"{1_700_000_000_000_000_000 + i:020d}-{i:04d}.json"  # time-sortable, as producers name them


def test_files_arriving_while_a_backlog_drains_are_all_decided_in_timestamp_order_per_service(make_daemon) -> None:
    daemon = make_daemon(batch=10, scan=25)
    for i in range(60):
        drop(daemon.spool.incoming, _name(i), event(i, service=f"svc-{i % 3}"))
    scans: list[int] = []
    scan = daemon.spool.scan

    def counting_scan(limit: int, directory: Path | None = None) -> list[str]:
        names = scan(limit, directory)
        if directory is None:
            scans.append(len(names))
        return names

    daemon.spool.scan = counting_scan  # type: ignore[method-assign]
    process_batch = daemon.pipeline.process_batch
    arrived: list[int] = []

    def arriving(files):  # 20 more files land while the first batches are being decided
        if not arrived:
            for i in range(60, 80):
                drop(daemon.spool.incoming, _name(i), event(i, service=f"svc-{i % 3}"))
                arrived.append(i)
        return process_batch(files)

    daemon.pipeline.process_batch = arriving  # type: ignore[method-assign]
    stats = daemon.run_once()

    assert stats.done == 80 and stats.failed == 0
    assert sorted(os.listdir(daemon.spool.done)) == [_name(i) for i in range(80)]
    assert os.listdir(daemon.spool.incoming) == [] and os.listdir(daemon.spool.processing) == []
    # incoming/ was listed only when the queue had run out (the third listing found the 20 that
    # arrived meanwhile; the last found nothing), not before each of the 10 batches
    assert scans == [25, 25, 25, 5, 0]
    rows = daemon.audit.conn.execute("SELECT service, timestamp FROM events ORDER BY rowid").fetchall()
    assert len(rows) == 80
    for service in ("svc-0", "svc-1", "svc-2"):
        stamps = [ts for s, ts in rows if s == service]
        assert stamps == sorted(stamps), service


def test_a_batch_is_what_is_waiting_now(make_daemon) -> None:
    daemon = make_daemon(batch=1000)
    sizes: list[int] = []
    process_batch = daemon.pipeline.process_batch
    daemon.pipeline.process_batch = lambda files: sizes.append(len(files)) or process_batch(files)  # type: ignore
    for i in range(3):
        drop(daemon.spool.incoming, _name(i), event(i))
    stats = Stats()
    assert daemon.step(stats)  # took three files: there may be more
    assert stats.done == 3 and sizes == [3]
    assert not daemon.step(stats)  # nothing waiting, nothing due: idle


def test_after_work_the_idle_wait_is_short_and_a_wake_is_immediate(make_daemon, monkeypatch) -> None:
    daemon = make_daemon(interval=5.0)  # the longest idle wait: reached only after seconds of idling
    monkeypatch.setattr("signal.signal", lambda *_: None)  # not the main thread
    loop = threading.Thread(target=daemon.run_forever)
    loop.start()
    try:
        drop(daemon.spool.incoming, _name(1), event(1))
        daemon.wake.set()
        assert wait_for(lambda: daemon.audit.count("decisions") == 1, 5, 0.005)
        started = time.monotonic()
        drop(daemon.spool.incoming, _name(2), event(2))  # no wake: found by polling
        assert wait_for(lambda: daemon.audit.count("decisions") == 2, 5, 0.005)
        assert time.monotonic() - started < 1.0, "the poll right after work must not wait the full interval"
    finally:
        daemon.stop.set()
        daemon.wake.set()
        loop.join(10)
    assert not loop.is_alive()


def test_due_actions_run_in_slices_and_intake_gets_a_turn_between_them(make_daemon, monkeypatch) -> None:
    daemon = make_daemon(outbox_slice=0.02, outbox_share=0.0, serial=True)
    due = [{"id": n, "action": "log", "rules_hash": "h"} for n in range(100)]
    executed: list[int] = []
    monkeypatch.setattr(daemon.audit, "pending_actions", lambda limit=1000, now=None: due[len(executed):][:limit])

    def slow_action(row):
        time.sleep(0.002)
        executed.append(row["id"])
        return SimpleNamespace(action="log", outcome="ok")

    monkeypatch.setattr(daemon.executor, "run_one", slow_action)
    stats = Stats()
    assert daemon.step(stats)  # a slice ran out with actions left
    first_slice = len(executed)
    assert 1 <= first_slice < 100
    drop(daemon.spool.incoming, _name(1), event(1))
    assert daemon.step(stats)
    assert stats.done == 1, "the file waiting was taken before the remaining actions"
    assert len(executed) < 100
    daemon.run_once()
    assert executed == list(range(100))  # every due action, once, in order


def test_a_retry_reported_without_a_wait_is_due_at_once_and_resumed_where_it_stopped(make_daemon, monkeypatch) -> None:
    """``ActionReport.retry_in`` is optional: a "retrying" report without one used to crash the loop with
    ``float + None``; it is due at once, and resumed from the attempt the report names (the serial
    executor's path: the concurrent one schedules its own retries, engine/run/dispatch.py)."""
    daemon = make_daemon(serial=True)
    row = {"id": 1, "action": "log", "rules_hash": "h"}
    resumed: list[tuple[int, float, int] | None] = []
    monkeypatch.setattr(daemon.audit, "pending_actions",
                        lambda limit=1000, now=None, skip=(): [] if len(resumed) == 2 or 1 in skip else [row])

    def run_one(row, resume=None):
        resumed.append(resume)
        if resume is None:
            return ActionReport(1, "log", "notify", "retrying", "503", attempts=1, retry_in=None, next_attempt=2)
        return ActionReport(1, "log", "notify", "ok", "sent", attempts=2)

    monkeypatch.setattr(daemon.executor, "run_one", run_one)
    stats = daemon.run_once()
    assert resumed == [None, (2, 0.0, 0)]  # (attempt, waited, attempts spent)
    assert stats.actions[("log", "ok")] == 1 and not daemon._retrying


@pytest.mark.parametrize("renameat2", [True, False], ids=["renameat2", "lstat-rename"])
def test_a_claim_or_move_never_replaces_a_file(tmp_path: Path, monkeypatch, renameat2: bool) -> None:
    if not renameat2:
        monkeypatch.setattr(spool_module, "_RENAMEAT2", None)
    spool = Spool(tmp_path)
    spool.ensure()
    (spool.processing / "a.json").write_text("left by a crash")
    (spool.processing / "a.json~1").write_text("and another")
    drop(spool.incoming, "a.json", "new")
    claimed = spool.claim("a.json")
    assert claimed is not None and claimed[0] == str(spool.processing / "a.json~2")
    assert (spool.processing / "a.json").read_text() == "left by a crash"
    assert spool.claim("a.json") is None  # gone (claimed, or taken back by its producer)
    (spool.done / "a.json~2").write_text("earlier")
    assert spool.finish(claimed[0], True) == str(spool.done / "a.json~2~1")
    assert (spool.done / "a.json~2").read_text() == "earlier" and (spool.done / "a.json~2~1").read_text() == "new"


def test_the_frozen_heap_does_not_keep_the_old_rules_after_a_reload(make_daemon, rules_copy: Path) -> None:
    import gc
    import weakref

    daemon = make_daemon(watcher=True)
    try:
        before = gc.get_threshold()
        daemon.freeze_heap()  # as run_forever does before its loop
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, *before[1:])
        engine = getattr(daemon.pipeline.decider, "engine", None)  # durable-rules' Host is in reference cycles
        assert engine is not None, "this test watches Decider.engine"
        old_pipeline, old_engine = weakref.ref(daemon.pipeline), weakref.ref(engine)
        del engine
        path = rules_copy / "severity.yaml"
        path.write_text(path.read_text() + "\n# edited\n")
        drop(daemon.spool.incoming, _name(1), event(1))
        daemon.run_once()  # reloads between files
        assert daemon.audit.count("decisions") == 1 and daemon.pipeline is not old_pipeline()
        gc.collect()
        assert old_engine() is None, "frozen cyclic garbage: the heap must be unfrozen and collected on a reload"
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_an_unwritable_audit_log_leaves_the_batch_in_processing_until_it_takes_writes_again(make_daemon) -> None:
    import sqlite3

    daemon = make_daemon()
    daemon.audit.conn.execute("PRAGMA busy_timeout=50")
    other = sqlite3.connect(daemon.audit.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    try:
        for i in range(3):
            drop(daemon.spool.incoming, _name(i), event(i))
        stats = daemon.run_once()
        assert stats.done == 0 and not daemon.health.db_writable
        assert sorted(os.listdir(daemon.spool.processing)) == [_name(i) for i in range(3)]
    finally:
        other.execute("ROLLBACK")
        other.close()
    drop(daemon.spool.incoming, _name(3), event(3))
    stats = daemon.run_once()
    assert stats.done == 4 and daemon.health.db_writable
    assert os.listdir(daemon.spool.processing) == [] and daemon.audit.count("decisions") == 4
