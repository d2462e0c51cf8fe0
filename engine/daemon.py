"""``rules run``: the daemon. Takes event files from the spool, returns committed decisions.

One cycle (:meth:`Daemon.run_once`): files left in ``processing/`` by a previous run first,
then ``incoming/`` in bounded batches (oldest names first, see :mod:`engine.spool`). A batch
is claimed by rename into ``processing/``, each file is checked (regular file, size limit
*before* reading) and parsed, the batch is sorted by (earliest event timestamp, name) —
so events of one service are decided in timestamp order within a batch — and decided in groups of up to
``group`` files whose audit rows and outbox rows commit in ONE sqlite transaction (group
commit; a file's rows are never split across transactions), then each file is moved to
``done/`` or ``failed/`` (+ ``.reason.json``). Between batches the outbox is executed.

Crash safety (SIGKILL at any point; the audit log is the source of truth):

* after the claim, before the commit: the file is still in ``processing/``; the restart
  decides it (nothing was committed: the transaction is atomic);
* after the commit, before the move: the restart finds every ``event_id`` already in
  ``events``, records the file as a duplicate intake and moves it to ``done/``;
* during outbox execution: an action without a result is executed again on restart, so the
  effect on the vendor is *at least once*, deduplicated there by the idempotency key
  (the incident id). If a successful attempt was recorded but not its result,
  :meth:`Daemon.settle_in_flight` records the result from it instead of sending again.
  ``results.action_id`` is unique (never two results), and an idempotency key already in
  ``actions`` is never requested again.

Bad input never stops the loop: every file ends in ``done/`` or ``failed/``; only an
unwritable audit log leaves files in ``processing/`` (retried next cycle, ``/healthz`` 503).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import logging
import math
import os
import signal
import sqlite3
import stat
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from engine.errors import AuditError, RulesError
from engine.execute import Executor
from engine.intake import IntakeError, parse
from engine.metrics import Health, Metrics
from engine.pipeline import Pipeline
from engine.reload import RulesWatcher
from engine.spool import Spool

logger = logging.getLogger("escalation_handlers.daemon")


class AlreadyRunning(RulesError):
    exit_code = 3


def acquire_lock(db: str | Path) -> IO[str]:
    """Single writer: an exclusive ``flock`` on ``<db>.lock``, held until the process exits."""
    path = Path(f"{db}.lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    fh = open(path, "a+")  # noqa: SIM115 - held for the daemon's lifetime
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.seek(0)
        holder = fh.read().strip() or "unknown"
        fh.close()
        raise AlreadyRunning(f"another daemon (pid {holder}) holds {path}; refusing to run two writers") from None
    fh.truncate(0)
    fh.write(f"{os.getpid()}\n")
    fh.flush()
    return fh


@dataclass
class DaemonConfig:
    interval: float = 0.25  # idle wait between scans of incoming/
    batch: int = 1000  # files claimed per batch
    batch_bytes: int = 64 * 1_048_576  # and at most this many bytes per batch
    group: int = 32  # files committed per transaction (group commit; 1 = one transaction per file)
    outbox_every: float = 0.1  # seconds between outbox scans when nothing new was decided (due steps)
    retention_days: float = 7.0
    prune_every: float = 3600.0


@dataclass
class Stats:
    done: int = 0
    failed: int = 0
    decided: int = 0
    actions: Counter[tuple[str, str]] = field(default_factory=Counter)

    @property
    def busy(self) -> bool:
        return bool(self.done or self.failed or self.actions)


@dataclass
class _File:
    path: Path
    arrived: float | None
    data: bytes = b""
    items: list[Any] = field(default_factory=list)
    key: float = math.inf


class _DbDown(Exception):
    pass


class Daemon:
    def __init__(self, pipeline: Pipeline, executor: Executor, spool: Spool, *, config: DaemonConfig | None = None,
                 metrics: Metrics | None = None, watcher: RulesWatcher | None = None) -> None:
        self.pipeline, self.executor, self.spool = pipeline, executor, spool
        self.config = config or DaemonConfig()
        spool.ensure()
        self.metrics = metrics or Metrics(queue_depth=spool.depth)
        self.health = Health(stale_after=max(30.0, 20 * self.config.interval), rules_hash=pipeline.rules_hash)
        self.watcher = watcher
        self.stop, self.wake = threading.Event(), threading.Event()
        self._next_prune = self._next_outbox = 0.0
        self._settled = False

    @property
    def audit(self) -> Any:
        return self.pipeline.audit

    # -- the loop ---------------------------------------------------------------------------
    def run_once(self) -> Stats:
        """Recover ``processing/``, drain ``incoming/`` batch by batch, execute the outbox."""
        stats = Stats()
        try:
            if not self._settled:
                self.settle_in_flight()
                self._settled = True
            leftovers = self.spool.oldest(self.config.batch, self.spool.processing)
            if leftovers:
                self._batch([_File(Path(e.path), None) for e in leftovers], stats, recovering=True)
            while not self.stop.is_set():
                self._maybe_reload()
                files = self._claim()
                if not files:
                    break
                self._batch(files, stats)
                if len(files) >= self.config.batch:  # a backlog: do not let actions wait for all of it
                    self._outbox(stats)
                self.health.beat()
            if stats.decided or time.monotonic() >= self._next_outbox:  # new requests, or steps come due
                self._outbox(stats)
            self._check_db()
        except _DbDown:
            pass  # logged where raised; the files stay in processing/ for the next cycle
        self._maybe_prune()
        return stats

    def run_forever(self) -> None:
        """Until SIGTERM/SIGINT: finish the current file, then return (the caller exits 0)."""
        def on_stop(*_: Any) -> None:
            self.stop.set()
            self.wake.set()

        def on_hup(*_: Any) -> None:
            if self.watcher is not None:
                self.watcher.request()
            self.wake.set()

        signal.signal(signal.SIGTERM, on_stop)
        signal.signal(signal.SIGINT, on_stop)
        signal.signal(signal.SIGHUP, on_hup)
        logger.info("daemon started", extra={"event": "started", "spool": str(self.spool.root),
                                             "rules_hash": self.pipeline.rules_hash, "pid": os.getpid()})
        while not self.stop.is_set():
            stats = self.run_once()
            self.health.beat()
            if stats.busy:
                logger.info("cycle", extra={"event": "cycle", "done": stats.done, "failed": stats.failed,
                                            "decided": stats.decided, "actions": sum(stats.actions.values())})
            if not stats.busy:
                self.pipeline.tick(datetime.now(UTC))  # idle: expire fusion windows that have ended
                self.wake.wait(self.config.interval)
                self.wake.clear()
                self._maybe_reload()
        logger.info("daemon stopped", extra={"event": "stopped"})

    # -- intake -----------------------------------------------------------------------------
    def _claim(self) -> list[_File]:
        files: list[_File] = []
        total = 0
        for entry in self.spool.oldest(self.config.batch):
            try:
                st = entry.stat(follow_symlinks=False)  # ctime = the rename into incoming/
            except FileNotFoundError:
                continue
            path = self.spool.claim(entry)
            if path is None:
                continue
            files.append(_File(path, st.st_ctime))
            total += st.st_size if stat.S_ISREG(st.st_mode) else 0
            if total >= self.config.batch_bytes:
                break
        return files

    def _batch(self, files: list[_File], stats: Stats, recovering: bool = False) -> None:
        ready = [f for f in files if self._prepare(f, stats)]
        ready.sort(key=lambda f: (f.key, f.path.name))  # timestamp order within the batch
        size = max(1, self.config.group)
        for start in range(0, len(ready), size):
            if self.stop.is_set():
                return  # still claimed: recovered (decided) on the next start
            self._decide_group(ready[start:start + size], stats, recovering)

    def _decide_group(self, group: list[_File], stats: Stats, recovering: bool) -> None:
        """Group commit: the files' rows in one transaction, then each file moved. An engine
        failure rolls the group back; its files are then decided one by one to isolate the bad one."""
        if len(group) == 1:
            self._decide(group[0], stats, recovering)
            return
        started = time.perf_counter()
        try:
            results = self.pipeline.process_batch([(f.path.name, f.data, f.items) for f in group])
        except (sqlite3.Error, AuditError) as exc:
            self._db_down(exc)
        except Exception:
            for f in group:
                self._decide(f, stats, recovering)
            return
        each = (time.perf_counter() - started) / len(group)
        for f, result in zip(group, results, strict=True):
            self._finish(f, result, stats, recovering, each)

    def _prepare(self, f: _File, stats: Stats) -> bool:
        """Check and parse one claimed file; a bad one goes to ``failed/`` right away."""
        limit = self.pipeline.max_event_bytes
        try:
            st = os.lstat(f.path)
        except OSError as exc:
            self._reject(f, stats, "unreadable", f"cannot stat {f.path.name}: {exc.strerror}")
            return False
        if not stat.S_ISREG(st.st_mode):
            kind = {stat.S_IFLNK: "a symlink", stat.S_IFDIR: "a directory"}.get(stat.S_IFMT(st.st_mode), "special")
            self._reject(f, stats, "not-a-file", f"{f.path.name} is {kind}; only regular files are read")
            return False
        try:
            if st.st_size > limit:  # never read an oversized file into memory
                raise IntakeError(f"file is {st.st_size} bytes; the limit is {limit} (--max-event-bytes)",
                                  "too-large")
            with os.fdopen(os.open(f.path, os.O_RDONLY | os.O_NOFOLLOW), "rb") as fh:
                f.data = fh.read(limit + 1)  # capped even if the file grew after the check
            f.items = parse(f.data, max_bytes=limit)
        except IntakeError as exc:
            self._reject(f, stats, exc.code, exc.reason)
            return False
        except OSError as exc:
            self._reject(f, stats, "unreadable", f"cannot read {f.path.name}: {exc.strerror}")
            return False
        stamps = [i.timestamp.timestamp() for i in f.items if getattr(i, "timestamp", None) is not None]
        f.key = min(stamps, default=math.inf)
        return True

    def _decide(self, f: _File, stats: Stats, recovering: bool) -> None:
        started = time.perf_counter()
        try:
            result = self.pipeline.process(f.path.name, f.data, items=f.items)
        except (sqlite3.Error, AuditError) as exc:
            self._db_down(exc)
        except Exception as exc:  # an engine bug on this event: recorded, the loop goes on
            logger.exception("event failed in the engine", extra={"event": "engine-failure", "file": f.path.name})
            self._reject(f, stats, "engine-failure", f"{type(exc).__name__}: {exc}")
            return
        self._finish(f, result, stats, recovering, time.perf_counter() - started)

    def _finish(self, f: _File, result: Any, stats: Stats, recovering: bool, seconds: float) -> None:
        self.metrics.decision_latency.observe(seconds)
        if f.arrived is not None:
            self.metrics.arrival_latency.observe(max(0.0, time.time() - f.arrived))
        stats.decided += len(result.decisions)
        for d in result.decisions:
            self.metrics.decisions.labels(d.severity).inc()
        if result.ok or (recovering and result.code == "duplicate"):  # our own commit, before the crash
            self._move(f.path, stats, True)
            self.metrics.events.labels("duplicate" if result.code == "duplicate" else "decided").inc()
            return
        self._move(f.path, stats, False, result.reason, result.code)
        self.metrics.events.labels("duplicate" if result.code == "duplicate" else "failed").inc()
        if result.code != "duplicate":
            self.metrics.failures.labels(result.code).inc()

    def _reject(self, f: _File, stats: Stats, code: str, reason: str) -> None:
        try:
            self.pipeline.reject(f.path.name, code, reason)
        except (sqlite3.Error, AuditError) as exc:
            self._db_down(exc)
        self._move(f.path, stats, False, reason, code)
        self.metrics.events.labels("failed").inc()
        self.metrics.failures.labels(code).inc()

    def _move(self, path: Path, stats: Stats, ok: bool, reason: str = "", code: str = "") -> None:
        if not ok:
            logger.warning("event file failed", extra={"event": "failed", "file": path.name, "code": code,
                                                       "reason": reason})
        self.spool.finish(path, ok, reason, code)
        if ok:
            stats.done += 1
        else:
            stats.failed += 1

    # -- outbox -----------------------------------------------------------------------------
    def settle_in_flight(self) -> int:
        """Actions whose successful attempt was recorded but whose result was not (killed in
        between): record the result from that attempt rather than sending a second time."""
        rows = self.audit.conn.execute(
            "SELECT a.id, a.rules_hash, t.attempt, t.detail FROM actions a JOIN attempts t ON t.action_id = a.id "
            "WHERE t.ok = 1 AND NOT EXISTS (SELECT 1 FROM results r WHERE r.action_id = a.id)").fetchall()
        for action_id, rules_hash, attempt, detail in rows:
            self.audit.record_result(action_id, "ok", f"attempt {attempt} succeeded before a restart: {detail}",
                                     None, rules_hash)
        if rows:
            logger.warning("in-flight actions settled from their recorded attempts",
                           extra={"event": "settled", "actions": len(rows)})
        return len(rows)

    def _outbox(self, stats: Stats, limit: int = 500) -> None:
        self._next_outbox = time.monotonic() + self.config.outbox_every
        while not self.stop.is_set():
            try:
                rows = self.audit.pending_actions(limit=limit)
            except (sqlite3.Error, AuditError) as exc:
                self._db_down(exc)
            for row in rows:
                if self.stop.is_set():
                    return  # no result yet: executed after the restart
                self._execute(row, stats)
            if len(rows) < limit:
                return

    def _execute(self, row: dict[str, Any], stats: Stats) -> None:
        try:
            report = self.executor.run_one(row)
            key = (report.action, report.outcome)
        except (sqlite3.Error, AuditError) as exc:
            self._db_down(exc)
        except Exception as exc:  # an adapter bug: give the action a failed result, never loop on it
            logger.exception("action raised", extra={"event": "action-error", "action_id": row["id"]})
            self.audit.record_result(int(row["id"]), "failed", f"{type(exc).__name__}: {exc}", "other",
                                     row["rules_hash"])
            key = (str(row["action"]), "failed")
        stats.actions[key] += 1
        self.metrics.actions.labels(*key).inc()

    # -- operations -------------------------------------------------------------------------
    def swap(self, compiled: Any) -> None:
        """New rules, between two files: a new Pipeline (new Decider) and Executor policy."""
        old = self.pipeline
        # the loaded severity model (if the Decider has one) carries over: a reload is about rules
        kept = {"model": old.decider.model} if hasattr(old.decider, "model") else {}
        self.pipeline = Pipeline(compiled, old.audit, max_event_bytes=old.max_event_bytes, **kept)
        self.executor = dataclasses.replace(self.executor, policy=compiled.policy, _adapters={})
        self.health.rules_hash = compiled.digest

    def _maybe_reload(self) -> None:
        if self.watcher is None or not self.watcher.due():
            return
        compiled = self.watcher.poll()
        self.health.reload_error = self.watcher.last_error
        if compiled is not None:
            self.swap(compiled)
            self.metrics.reloads.labels("ok").inc()
        elif self.watcher.just_rejected:
            self.metrics.reloads.labels("rejected").inc()

    def _check_db(self) -> None:
        try:
            self.audit.conn.execute("BEGIN IMMEDIATE")  # takes the write lock, writes nothing
            self.audit.conn.execute("ROLLBACK")
        except sqlite3.Error as exc:
            self._db_down(exc)
        self.health.db_writable, self.health.db_error = True, ""

    def _db_down(self, exc: BaseException) -> Any:
        self.health.db_writable, self.health.db_error = False, str(exc)
        logger.error("audit log not writable; files stay in processing/", extra={"event": "db-error",
                                                                                  "error": str(exc)})
        with contextlib.suppress(Exception):
            self.audit.rollback()
        raise _DbDown(str(exc)) from exc

    def _maybe_prune(self) -> None:
        if time.monotonic() < self._next_prune:
            return
        self._next_prune = time.monotonic() + self.config.prune_every
        removed = self.spool.prune_done(self.config.retention_days)
        if removed:
            logger.info("pruned done/", extra={"event": "pruned", "files": removed})
