"""``rules run``: the daemon. Takes event files from the spool, returns committed decisions.

One turn of the loop (:meth:`Daemon.step`; :meth:`Daemon.run_once` repeats it until there is
nothing left to do, :meth:`Daemon.run_forever` until SIGTERM): files left in ``processing/`` by a
previous run or a failed commit first, else one batch from ``incoming/``; then a slice of the outbox.

*Intake.* ``incoming/`` is listed into a sorted queue of up to ``scan`` names (oldest names first,
see :mod:`engine.spool`) and listed again only when the queue has run out: a backlog of 50,000
files costs five listings, not one per batch. A file that arrives meanwhile is taken when the
queue runs out (with time-sortable names it sorts after the queue anyway). A batch is what is
queued now, up to ``batch`` files or ``batch_bytes``: it never waits to fill up. Each file is
claimed by rename into ``processing/``, checked (regular file, size limit *before* reading) and
parsed, the batch is sorted by (earliest event timestamp, name) — so events of one service are
decided in timestamp order within a batch — and decided in groups of up to ``group`` files whose
audit rows and outbox rows commit in ONE sqlite transaction (group commit; a file's rows are never
split across transactions), then each file is moved to ``done/`` or ``failed/`` (+ ``.reason.json``).

*Outbox.* After each batch (and every ``outbox_every`` seconds for steps coming due) due actions
are executed for a bounded slice — ``outbox_slice`` seconds, or ``outbox_share`` of the time the
batch took if longer — and then intake is looked at again: actions do not wait for a whole
backlog, and a backlog of actions holds up intake for one slice at most (plus the one action that
is running when the slice ends).

*Idle.* After an empty scan the daemon waits ``min_wait``, doubling up to ``interval`` while
nothing arrives; the HTTP intake and SIGHUP wake it at once. Idle chores (expiring ended fusion
windows, the audit log write check) run at most every ``chores_every`` seconds.

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

No fsync is needed for this (a killed process loses nothing the kernel already has); against a
power loss see the README (sqlite runs with ``synchronous=NORMAL``).

Bad input never stops the loop: every file ends in ``done/`` or ``failed/``; only an
unwritable audit log leaves files in ``processing/`` (retried, ``/healthz`` 503).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import gc
import logging
import math
import os
import signal
import sqlite3
import stat
import threading
import time
from collections import Counter, deque
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
# The cyclic GC's youngest generation is collected after this many net allocations (CPython: 700).
# A decision allocates a few thousand objects and leaves few cycles, so at 700 the collector ran
# several times per event for nothing: 20,000 took ~9 µs off each decision (benchmarks/throughput.py
# workload, best of 4 runs each, same session) while a young collection stays around a millisecond.
GC_YOUNG_THRESHOLD = 20_000


def settle_heap() -> None:
    """Collect, freeze what is alive, and collect the young generation less often (see above)."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)


class AlreadyRunning(RulesError):
    exit_code = 3


def acquire_lock(db: str | Path) -> IO[bytes]:
    """Single writer: an exclusive ``flock`` on the database file itself, held until the process exits.

    The lock belongs to the file (its inode), not to a name: a second daemon given the same database
    through a symlink, a hard link or a bind mount is refused like one given the same path. It does not
    touch sqlite's own locks (``flock`` and POSIX record locks are separate on Linux), and the descriptor
    stays open for the process's lifetime (closing any descriptor of the file would drop sqlite's POSIX
    locks in this process). Local filesystems only: NFS emulates ``flock`` with record locks. The holder's
    pid is written to ``<real path of db>.lock`` for the error message only."""
    path = Path(db)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:  # an unusable --db location: exit 3 with one line, like Audit(db)
        raise AuditError(f"cannot open audit log {db}: {exc.strerror or exc}") from None
    fh = os.fdopen(fd, "rb", buffering=0)  # noqa: SIM115 - held for the daemon's lifetime
    pid_file = Path(f"{os.path.realpath(path)}.lock")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        try:
            holder = pid_file.read_text().strip() or "unknown"
        except OSError:
            holder = "unknown"
        raise AlreadyRunning(f"another daemon (pid {holder}) holds {db} (the database file itself, by inode); "
                             "refusing to run two writers") from None
    with contextlib.suppress(OSError):  # informational only
        pid_file.write_text(f"{os.getpid()}\n")
    return fh


@dataclass
class DaemonConfig:
    interval: float = 0.05  # longest idle wait between scans of incoming/ (the wait starts at min_wait)
    min_wait: float = 0.001  # first idle wait after work; doubles while nothing arrives
    batch: int = 1000  # files claimed per batch (at most; a batch is what is waiting now)
    batch_bytes: int = 64 * 1_048_576  # and at most this many bytes per batch
    scan: int = 10_000  # names kept in the sorted queue per listing of incoming/ (O(scan) memory)
    group: int = 256  # files committed per transaction (group commit; 1 = one transaction per file)
    outbox_slice: float = 0.01  # seconds of outbox execution between two looks at incoming/ ...
    outbox_share: float = 0.5  # ... or this share of the time the batch before it took, if longer
    outbox_every: float = 0.1  # seconds between outbox scans when nothing new was decided (due steps)
    chores_every: float = 1.0  # idle chores: fusion-window expiry, audit log write check
    log_every: float = 10.0  # the "cycle" log line sums the counts of at least this long
    checkpoint_every: float = 10.0  # idle: checkpoint the WAL explicitly (an automatic one fails silently)
    max_wal_bytes: int = 256 * 1_048_576  # WAL frames not yet checkpointed beyond this: /healthz 503
    poison_attempts: int = 3  # a file left in processing/ by this many crashed attempts goes to failed/
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

    def add(self, other: Stats) -> None:
        self.done += other.done
        self.failed += other.failed
        self.decided += other.decided
        self.actions.update(other.actions)


@dataclass(slots=True)
class _File:
    path: str  # in processing/
    name: str
    arrived: float | None  # ctime of the producer's rename into incoming/ (None: recovered)
    mode: int  # lstat before the claim; the descriptor it is read through is checked again
    data: bytes = b""
    items: list[Any] = field(default_factory=list)
    key: float = math.inf


class _DbDown(Exception):
    pass


class _NotAFile(Exception):
    def __init__(self, mode: int) -> None:
        self.mode = mode


class Daemon:
    def __init__(self, pipeline: Pipeline, executor: Executor, spool: Spool, *, config: DaemonConfig | None = None,
                 metrics: Metrics | None = None, watcher: RulesWatcher | None = None) -> None:
        self.pipeline, self.executor, self.spool = pipeline, executor, spool
        self.config = config or DaemonConfig()
        spool.ensure()
        self.metrics = metrics or Metrics(queue_depth=spool.depth, held=self.held)
        self.health = Health(stale_after=max(30.0, 20 * self.config.interval), rules_hash=pipeline.rules_hash)
        self.watcher = watcher
        self.stop, self.wake = threading.Event(), threading.Event()
        self._queue: deque[str] = deque()  # names in incoming/, sorted; refilled when empty
        self._recovering = True  # look at processing/ first: at start, and after a failed commit
        self._settled = False
        self._outbox_left = False
        self._next_prune = self._next_outbox = self._next_chores = self._next_checkpoint = 0.0
        self._children: dict[tuple[Any, tuple[str, ...]], Any] = {}
        self._frozen = False
        # action id -> (monotonic time its next attempt is due, that attempt's number, the wait): a retry
        # backoff is not slept in the loop (it would hold up intake, every other action and SIGTERM)
        self._retrying: dict[int, tuple[float, int, float]] = {}
        # why /healthz says the audit log is not writable: "probe" (the idle write-lock check failed: its
        # next success clears it) or "write" (real work failed: cleared only when work commits rows, since
        # taking the lock proves nothing about a full disk or an I/O error)
        self._db_failed = ""
        if executor.defer is None:
            executor.defer = _defer_every_wait

    @property
    def audit(self) -> Any:
        return self.pipeline.audit

    # -- the loop ---------------------------------------------------------------------------
    def run_once(self) -> Stats:
        """Recover ``processing/``, drain ``incoming/`` batch by batch and the due outbox; then return."""
        stats = Stats()
        self._maybe_prune()  # first: the files this run moves are younger than any retention
        while not self.stop.is_set():
            more = self.step(stats)
            self.health.beat()
            if more:
                continue
            if not self._retrying or not self.health.db_writable:
                break
            # only retries in backoff are left: wait for the first (a SIGTERM in run_forever's caller ends it)
            self.stop.wait(max(0.0, min(at for at, _, _ in self._retrying.values()) - time.monotonic()))
            self._next_outbox = 0.0
        self._check_db()
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
        self.freeze_heap()
        logger.info("daemon started", extra={"event": "started", "spool": str(self.spool.root),
                                             "rules_hash": self.pipeline.rules_hash, "pid": os.getpid()})
        summary, logged, wait = Stats(), time.monotonic(), self.config.min_wait
        while not self.stop.is_set():
            stats = Stats()
            more = self.step(stats)
            self.health.beat()
            summary.add(stats)
            if summary.busy and time.monotonic() - logged >= self.config.log_every:
                self._log_cycle(summary)
                summary, logged = Stats(), time.monotonic()
            self._maybe_prune()  # also under a load that never leaves the loop idle
            self._check_wal()  # likewise (every checkpoint_every seconds)
            if more or stats.busy:
                wait = self.config.min_wait
            if more:
                continue
            self._chores()
            if not self.health.db_writable or self.health.spool_error:  # retried (and logged) about once a
                # second, not hammered
                wait = max(self.config.interval, self.config.chores_every)
            self.wake.wait(wait)
            self.wake.clear()
            wait = min(2 * wait, self.config.interval)
            self._maybe_reload()
        if summary.busy:
            self._log_cycle(summary)
        logger.info("daemon stopped", extra={"event": "stopped"})

    def held(self) -> dict[str, float]:
        """What the current pipeline keeps in memory (``/metrics`` gauges; read from the HTTP thread)."""
        pipeline = self.pipeline
        return {"open_incidents": len(pipeline.suppression.incidents),
                "history_services": pipeline.history.services_held}

    def freeze_heap(self) -> None:
        """Take what is alive now (modules, compiled rules, the model, the engine) out of the cyclic
        GC's reach: a full collection then walks only what the loop allocated since. On the shipped
        rules that turns ~100-200 ms pauses into ~20-40 ms ones (a pause stalls every file in
        flight). Frozen objects are still freed by reference counting; after a reload the heap is
        collected and frozen again, so the old rules' cycles are not kept. The young generation is
        collected every ``GC_YOUNG_THRESHOLD`` allocations."""
        settle_heap()
        self._frozen = True

    def step(self, stats: Stats) -> bool:
        """One batch (left in ``processing/``, else claimed from ``incoming/``), then one outbox slice.
        True when there may be more to do at once: files were taken, or due actions were left."""
        changes = self.audit.conn.total_changes
        try:
            if not self._settled:
                try:
                    self.settle_in_flight()
                except (sqlite3.Error, AuditError) as exc:
                    self._db_down(exc)
                self._settled = True
            started = time.monotonic()
            files = self._leftovers() if self._recovering else []
            recovering = bool(files)
            if not files:
                self._recovering = False
                self._maybe_reload()
                files = self._claim()
            if files:
                self._batch(files, stats, recovering)
            if files or self._outbox_left or time.monotonic() >= self._next_outbox:
                budget = max(self.config.outbox_slice, self.config.outbox_share * (time.monotonic() - started))
                self._outbox_left = self._outbox(stats, budget)
        except _DbDown:
            self._recovering = True  # logged where raised; the files stay in processing/ for the next turn
            return False
        except OSError as exc:  # the spool (a full disk, EIO, a read-only mount): files stay where they are
            self._recovering = True
            self.health.spool_error = f"{exc.strerror or exc}: {exc.filename or self.spool.root}"
            logger.error("spool not writable; files stay in processing/", extra={
                "event": "spool-error", "error": self.health.spool_error})
            return False
        self.health.spool_error = ""
        self._wrote(changes)
        return bool(files) or self._outbox_left

    def _chores(self) -> None:
        """Idle: expire fusion windows that have ended, check that the audit log takes writes."""
        now = time.monotonic()
        if now < self._next_chores and self.health.db_writable:
            return
        self._next_chores = now + self.config.chores_every
        changes = self.audit.conn.total_changes
        try:
            self.pipeline.tick(datetime.now(UTC))
        except (sqlite3.Error, AuditError) as exc:
            self._db_error(exc)
            return
        self._wrote(changes)
        self._check_db()

    def _log_cycle(self, s: Stats) -> None:
        logger.info("cycle", extra={"event": "cycle", "done": s.done, "failed": s.failed, "decided": s.decided,
                                    "actions": sum(s.actions.values())})

    # -- intake -----------------------------------------------------------------------------
    def _claim(self) -> list[_File]:
        """Up to ``batch`` files from the head of the queue, claimed; an empty queue is refilled
        by one scan of ``incoming/`` first (the only listing while a backlog drains)."""
        if not self._queue:
            self._queue.extend(self.spool.scan(self.config.scan))
        files: list[_File] = []
        total = 0
        while self._queue and len(files) < self.config.batch and total < self.config.batch_bytes:
            claimed = self.spool.claim(self._queue.popleft())
            if claimed is None:
                continue
            path, st = claimed
            files.append(_File(path, os.path.basename(path), st.st_ctime, st.st_mode))
            total += st.st_size if stat.S_ISREG(st.st_mode) else 0
        return files

    def _leftovers(self) -> list[_File]:
        files = []
        for name in self.spool.scan(self.config.batch, self.spool.processing):
            path = os.path.join(self.spool.processing, name)
            with contextlib.suppress(FileNotFoundError):
                files.append(_File(path, name, None, os.lstat(path).st_mode))
        return files

    def _batch(self, files: list[_File], stats: Stats, recovering: bool = False) -> None:
        if recovering:
            self._recover(files, stats)
            return
        ready = [f for f in files if self._prepare(f, stats)]
        ready.sort(key=lambda f: (f.key, f.name))  # timestamp order within the batch
        size = max(1, self.config.group)
        for start in range(0, len(ready), size):
            if self.stop.is_set():
                return  # still claimed: recovered (decided) on the next start
            self._decide_group(ready[start:start + size], stats, recovering)

    def _recover(self, files: list[_File], stats: Stats) -> None:
        """Files a crash left in ``processing/``, one per transaction, each decision attempt counted on disk
        just before it: a file that crashed or hung the daemon ``poison_attempts`` times goes to ``failed/``
        (code ``poison``) instead of taking every restart down with it; the files after it are not charged.
        (Reading and parsing are bounded by the size limit and the parser's depth limits.)"""
        ready = [f for f in files if self._prepare(f, stats)]
        ready.sort(key=lambda f: (f.key, f.name))
        for f in ready:
            if self.stop.is_set():
                return
            attempt = self.spool.count_attempt(f.name)
            if attempt > self.config.poison_attempts:
                self._reject(f, stats, "poison", f"{f.name} was taken up {attempt - 1} times and the daemon "
                             "never finished it (crashed or was killed meanwhile); quarantined")
            else:
                self._decide(f, stats, True)

    def _decide_group(self, group: list[_File], stats: Stats, recovering: bool) -> None:
        """Group commit: the files' rows in one transaction, then each file moved. An engine
        failure rolls the group back; its files are then decided one by one to isolate the bad one."""
        if len(group) == 1:
            self._decide(group[0], stats, recovering)
            return
        started = time.perf_counter()
        try:
            results = self.pipeline.process_batch([(f.name, f.data, f.items) for f in group])
        except (sqlite3.Error, AuditError) as exc:
            self._db_down(exc)
        except Exception:
            for f in group:
                self._decide(f, stats, recovering)
            return
        committed, each = time.time(), (time.perf_counter() - started) / len(group)
        for f, result in zip(group, results, strict=True):
            self._finish(f, result, stats, recovering, each, committed)

    def _prepare(self, f: _File, stats: Stats) -> bool:
        """Check, read and parse one claimed file; a bad one goes to ``failed/`` right away."""
        limit = self.pipeline.max_event_bytes
        try:
            if not stat.S_ISREG(f.mode):
                raise _NotAFile(f.mode)
            f.data = _read(f.path, limit)
            f.items = parse(f.data, max_bytes=limit)
        except _NotAFile as exc:
            kind = {stat.S_IFLNK: "a symlink", stat.S_IFDIR: "a directory"}.get(stat.S_IFMT(exc.mode), "special")
            self._reject(f, stats, "not-a-file", f"{f.name} is {kind}; only regular files are read")
            return False
        except IntakeError as exc:
            self._reject(f, stats, exc.code, exc.reason)
            return False
        except OSError as exc:
            self._reject(f, stats, "unreadable", f"cannot read {f.name}: {exc.strerror}")
            return False
        stamps = [i.timestamp.timestamp() for i in f.items if getattr(i, "timestamp", None) is not None]
        f.key = min(stamps, default=math.inf)
        return True

    def _decide(self, f: _File, stats: Stats, recovering: bool) -> None:
        started = time.perf_counter()
        try:
            result = self.pipeline.process(f.name, f.data, items=f.items)
        except (sqlite3.Error, AuditError) as exc:
            self._db_down(exc)
        except Exception as exc:  # an engine bug on this event: recorded, the loop goes on
            logger.exception("event failed in the engine", extra={"event": "engine-failure", "file": f.name})
            self._reject(f, stats, "engine-failure", f"{type(exc).__name__}: {exc}")
            return
        self._finish(f, result, stats, recovering, time.perf_counter() - started, time.time())

    def _finish(self, f: _File, result: Any, stats: Stats, recovering: bool, seconds: float,
                committed: float) -> None:
        self.metrics.decision_latency.observe(seconds)
        if f.arrived is not None:
            self.metrics.arrival_latency.observe(max(0.0, committed - f.arrived))
        stats.decided += len(result.decisions)
        if result.skewed:
            self.metrics.clock_skew.inc(result.skewed)
        for d in result.decisions:
            self._count(self.metrics.decisions, d.severity)
        if result.ok or (recovering and result.code == "duplicate"):  # our own commit, before the crash
            self._move(f, stats, True)
            self._count(self.metrics.events, "duplicate" if result.code == "duplicate" else "decided")
            return
        self._move(f, stats, False, result.reason, result.code)
        self._count(self.metrics.events, "duplicate" if result.code == "duplicate" else "failed")
        if result.code != "duplicate":
            self._count(self.metrics.failures, result.code)

    def _reject(self, f: _File, stats: Stats, code: str, reason: str) -> None:
        try:
            self.pipeline.reject(f.name, code, reason)
        except (sqlite3.Error, AuditError) as exc:
            self._db_down(exc)
        self._move(f, stats, False, reason, code)
        self._count(self.metrics.events, "failed")
        self._count(self.metrics.failures, code)

    def _move(self, f: _File, stats: Stats, ok: bool, reason: str = "", code: str = "") -> None:
        if not ok:
            logger.warning("event file failed", extra={"event": "failed", "file": f.name, "code": code,
                                                       "reason": reason})
        self.spool.finish(f.path, ok, reason, code)
        if self._recovering:
            self.spool.forget_attempts(f.name)
        if ok:
            stats.done += 1
        else:
            stats.failed += 1

    def _count(self, counter: Any, *labels: str) -> None:
        """``counter.labels(*labels).inc()`` with the labelled child kept (labels() costs ~4× inc())."""
        child = self._children.get((counter, labels))
        if child is None:
            child = self._children[(counter, labels)] = counter.labels(*labels)
        child.inc()

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

    def _outbox(self, stats: Stats, budget: float, limit: int = 500) -> bool:
        """Execute due actions, oldest first, for about ``budget`` seconds. True if due ones were left.

        Results of actions that send nothing (not configured, cancelled, unrenderable) share one
        transaction per slice; the executor commits it before any side effect, so a ``starts`` row
        is still durable before its send. Lost in a crash, such a result is simply recorded again.
        """
        try:
            return self._outbox_slice(stats, budget, limit)
        finally:
            if self.audit.conn.in_transaction:
                try:
                    self.audit.commit()
                except (sqlite3.Error, AuditError) as exc:
                    self._db_down(exc)

    def _outbox_slice(self, stats: Stats, budget: float, limit: int) -> bool:
        now = time.monotonic()
        self._next_outbox, deadline = now + self.config.outbox_every, now + budget
        while not self.stop.is_set():
            now = time.monotonic()
            waiting = [aid for aid, (at, _, _) in self._retrying.items() if at > now]  # in backoff: not yet
            try:
                rows = self.audit.pending_actions(limit=limit, **({"skip": waiting} if waiting else {}))
            except (sqlite3.Error, AuditError) as exc:
                self._db_down(exc)
            for n, row in enumerate(rows, 1):
                if self.stop.is_set():
                    return False  # no result yet: executed after the restart
                if not self.audit.conn.in_transaction:
                    try:
                        self.audit.begin()
                    except (sqlite3.Error, AuditError) as exc:
                        self._db_down(exc)
                self._execute(row, stats)
                if time.monotonic() >= deadline:
                    return n < len(rows) or len(rows) == limit
            if len(rows) < limit:
                return False
        return False

    def _execute(self, row: dict[str, Any], stats: Stats) -> None:
        action_id = int(row["id"])
        retry = self._retrying.get(action_id)
        try:
            report = self.executor.run_one(row, retry[1:]) if retry else self.executor.run_one(row)
            key = (report.action, report.outcome)
        except (sqlite3.Error, AuditError) as exc:
            self._db_down(exc)
        except Exception as exc:  # an adapter bug: give the action a failed result, never loop on it
            logger.exception("action raised", extra={"event": "action-error", "action_id": row["id"]})
            self.audit.record_result(action_id, "failed", f"{type(exc).__name__}: {exc}", "other",
                                     row["rules_hash"])
            key = (str(row["action"]), "failed")
        else:
            if report.outcome == "retrying":  # attempt recorded, no result: the outbox runs it again when due
                self._retrying[action_id] = (time.monotonic() + report.retry_in, report.next_attempt, report.retry_in)
                return
        self._retrying.pop(action_id, None)
        stats.actions[key] += 1
        self._count(self.metrics.actions, *key)

    # -- operations -------------------------------------------------------------------------
    def swap(self, compiled: Any) -> None:
        """New rules, between two files: a new Pipeline (new Decider) and Executor policy."""
        old = self.pipeline
        # the loaded severity model (if the Decider has one) carries over: a reload is about rules
        kept = {"model": old.decider.model} if hasattr(old.decider, "model") else {}
        self.pipeline = Pipeline(compiled, old.audit, max_event_bytes=old.max_event_bytes,
                                 max_clock_skew=old.max_clock_skew, **kept)
        self.executor = dataclasses.replace(self.executor, policy=compiled.policy, _adapters={})
        self.health.rules_hash = compiled.digest
        if self._frozen:
            del old
            gc.unfreeze()  # the old rules' cycles become collectable again
            self.freeze_heap()

    def _maybe_reload(self) -> None:
        if self.watcher is None or not self.watcher.due():
            return
        compiled = self.watcher.poll()
        self.health.reload_error = self.watcher.last_error
        if compiled is not None:
            self.swap(compiled)
            self._count(self.metrics.reloads, "ok")
        elif self.watcher.just_rejected:
            self._count(self.metrics.reloads, "rejected")

    def _check_db(self) -> None:
        try:
            self.audit.conn.execute("BEGIN IMMEDIATE")  # takes the write lock, writes nothing
            self.audit.conn.execute("ROLLBACK")
        except sqlite3.Error as exc:
            self._db_error(exc, "probe")
            return
        if self._db_failed != "write":  # the lock proves nothing about a write that failed (SQLITE_FULL, EIO)
            self._db_failed = ""
            self.health.db_writable, self.health.db_error = True, ""
        self._check_wal()

    def _check_wal(self) -> None:
        """A database file that takes no writes while its WAL does (read-only, immutable, EIO on the main
        file) keeps answering commits: only a checkpoint fails, and sqlite's automatic ones fail silently
        while the WAL grows without bound. So checkpoint explicitly, and report a failure or a WAL that
        cannot be checkpointed (a reader holding an old snapshot) past ``max_wal_bytes`` in /healthz."""
        now = time.monotonic()
        if now < self._next_checkpoint:
            return
        self._next_checkpoint = now + self.config.checkpoint_every
        try:
            _, frames, done = self.audit.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            page = self.audit.conn.execute("PRAGMA page_size").fetchone()[0]
        except sqlite3.Error as exc:
            self.health.wal_error = f"WAL checkpoint failed: {exc} (the database file takes no writes?)"
            logger.error("audit log checkpoint failed", extra={"event": "db-checkpoint-error", "error": str(exc)})
            return
        pending = max(0, frames - done) * page
        self.health.wal_error = "" if pending <= self.config.max_wal_bytes else (
            f"WAL holds {pending} bytes that cannot be checkpointed (a reader holds an old snapshot?); "
            f"bound {self.config.max_wal_bytes}")

    def _wrote(self, changes: int) -> None:
        """Work since ``changes`` committed rows: the audit log takes writes again."""
        if self._db_failed and self.audit.conn.total_changes > changes:
            self._db_failed = ""
            self.health.db_writable, self.health.db_error = True, ""

    def _db_error(self, exc: BaseException, kind: str = "write") -> None:
        self._db_failed = "write" if "write" in (kind, self._db_failed) else kind
        self.health.db_writable, self.health.db_error = False, str(exc)
        logger.error("audit log not writable; files stay in processing/", extra={"event": "db-error",
                                                                                  "error": str(exc)})
        with contextlib.suppress(Exception):
            self.audit.rollback()

    def _db_down(self, exc: BaseException) -> Any:
        self._db_error(exc)
        raise _DbDown(str(exc)) from exc

    def _maybe_prune(self) -> None:
        if time.monotonic() < self._next_prune:
            return
        self._next_prune = time.monotonic() + self.config.prune_every
        removed = self.spool.prune_done(self.config.retention_days)
        if removed:
            logger.info("pruned done/", extra={"event": "pruned", "files": removed})


def _defer_every_wait(_seconds: float) -> bool:
    """The daemon's :attr:`Executor.defer`: every wait between attempts is taken by the outbox."""
    return True


def _read(path: str, limit: int) -> bytes:
    """A claimed file's bytes through one descriptor: a symlink is not followed (``ELOOP``), a FIFO
    does not block, the size is checked before reading, and at most ``limit + 1`` bytes are read
    (a file that grew after the check is still caught by the parser's limit)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # became a symlink after the listing
            raise _NotAFile(stat.S_IFLNK) from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _NotAFile(st.st_mode)
        if st.st_size > limit:  # never read an oversized file into memory
            raise IntakeError(f"file is {st.st_size} bytes; the limit is {limit} (--max-event-bytes)", "too-large")
        chunks, total, want = [], 0, st.st_size + 1
        while total <= limit:
            chunk = os.read(fd, want)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            want = min(limit + 1 - total, 1 << 16)
        return b"".join(chunks)
    finally:
        os.close(fd)
