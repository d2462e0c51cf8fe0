"""``rules run``: the daemon. Takes event files from the spool, returns committed decisions.

One turn of the loop (:meth:`Daemon.step`; :meth:`Daemon.run_once` repeats it until there is
nothing left to do, :meth:`Daemon.run_forever` until SIGTERM): files left in ``processing/`` by a
previous run or a failed commit first, else one batch from ``incoming/``; then a slice of the outbox.

*Intake.* ``incoming/`` is listed into a sorted queue of up to ``scan`` names (oldest names first,
see :mod:`engine.run.daemon.spool`) and listed again only when the queue has run out: a backlog of 50,000
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

import dataclasses
import gc
import logging
import os
import signal
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from engine.decide.classify import warm as warm_model
from engine.model.errors import AuditError
from engine.run.daemon.batches import Batches
from engine.run.daemon.health import DbDown as _DbDown
from engine.run.daemon.health import DbHealth
from engine.run.daemon.heap import settle_heap
from engine.run.daemon.metrics import Health, Metrics
from engine.run.daemon.outbox import OutboxSlices, Stats
from engine.run.daemon.reload import RulesWatcher
from engine.run.daemon.spool import Spool
from engine.run.daemon.triage import Triage, classifier
from engine.run.dispatch import Dispatcher
from engine.run.execute import Executor
from engine.run.lanes import Limits
from engine.run.pipeline import Pipeline

logger = logging.getLogger("escalation_handlers.daemon")
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
    checkpoint_every: float = 10.0  # checkpoint the WAL explicitly (an automatic one fails silently)
    max_wal_bytes: int = 256 * 1_048_576  # WAL frames not yet checkpointed beyond this: /healthz 503
    poison_attempts: int = 3  # a file left in processing/ by this many crashed attempts goes to failed/
    retention_days: float = 7.0
    prune_every: float = 3600.0
    history_days: float | None = None  # audit log retention (engine/store/retention.py); None: keep everything
    history_prune_every: float = 86400.0
    serial: bool = False  # send one action at a time on the loop thread (the executor before concurrency)
    limits: Limits = dataclasses.field(default_factory=Limits)  # the concurrent executor's lanes and circuits
    stop_grace: float = 10.0  # SIGTERM waits this long for sends in flight (the rest are sent after a restart)
    triage: bool = True  # storm intake: urgent files decided ahead of a backlog (engine/run/daemon/triage.py)
    triage_every: float = 1.0  # seconds between two listings of incoming/ for the triage during a backlog
    triage_budget: float = 0.5  # seconds of triage (reading, parsing, matching) per turn at most
    triage_window: int = 100_000  # newest waiting names the triage considers


class Daemon(Batches, OutboxSlices, DbHealth):
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
        self._scan_full = self._promoted_last = False
        cfg = self.config
        self.triage = Triage(spool, classifier(pipeline), every=cfg.triage_every, budget=cfg.triage_budget,
                             window=cfg.triage_window, limit=pipeline.max_body_bytes) if cfg.triage else None
        self._recovering = True  # look at processing/ first: at start, and after a failed commit
        self._settled = False
        self._outbox_left = False
        self._next_prune = self._next_outbox = self._next_chores = self._next_history = self._next_checkpoint = 0.0
        self._children: dict[tuple[Any, tuple[str, ...]], Any] = {}
        self._frozen = False
        # action id -> (monotonic time its next attempt is due, that attempt's number, the wait): a retry
        # backoff is not slept in the loop (it would hold up intake, every other action and SIGTERM)
        self._retrying: dict[int, tuple[float, int, float, int]] = {}
        # why /healthz says the audit log is not writable: "probe" (the idle write-lock check failed: its
        # next success clears it) or "write" (real work failed: cleared only when work commits rows, since
        # taking the lock proves nothing about a full disk or an I/O error)
        self._db_failed = ""
        # refused HTTP requests (status, reason, client), appended by HTTP threads, recorded by the loop;
        # bounded, so a flood of bad requests cannot grow memory (the log line and the metric still count)
        self.refusals: deque[tuple[int, str, str]] = deque(maxlen=10_000)
        if executor.defer is None:
            executor.defer = _defer_every_wait
        self.dispatcher = Dispatcher(executor, self.config.limits, notify=self.wake.set)
        self._next_observe = 0.0
        self._outbox_dirty = True
        self._due: list[dict[str, Any]] = []
        self._due_full = False

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
            if not self.health.db_writable:
                break
            d = self.dispatcher
            if d.flights:  # sends in flight: record them as they finish
                d.wait(1.0)
                continue
            held = [at for at, *_ in self._retrying.values()]
            nxt = d.next_wake()
            if nxt is not None and (d.backoff or self.audit.pending_actions(limit=1)):
                held.append(nxt)
            if not held:
                break
            # only retries in backoff (or lanes held back) are left: wait for the first (SIGTERM ends it)
            self.stop.wait(max(0.0, min(held) - time.monotonic()))
            self._next_outbox = 0.0
        if not self.config.serial:
            self.drain(self.config.stop_grace)
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
        warmed = time.monotonic()
        warm_model(self.pipeline.decider.model)  # before the heap is frozen: its modules are frozen too
        warm_ms = round((time.monotonic() - warmed) * 1000)
        self.freeze_heap()
        logger.info("daemon started", extra={"event": "started", "spool": str(self.spool.root),
                                             "rules_hash": self.pipeline.rules_hash, "pid": os.getpid(),
                                             "model_warm_ms": warm_ms})
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
        if not self.config.serial:
            self.drain(self.config.stop_grace)
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
        changes = self.audit.changes
        try:
            if not self._settled:
                try:
                    self.settle_in_flight()
                except AuditError as exc:
                    self._db_down(exc)
                self._settled = True
            started = time.monotonic()
            self._record_refusals()
            files = self._leftovers() if self._recovering else []
            recovering = bool(files)
            if not files:
                self._recovering = False
                self._maybe_reload()
                files = self._claim()
            if files:
                self._batch(files, stats, recovering)
                self._outbox_dirty = True
            if files or self._outbox_left or self.dispatcher.finished() or time.monotonic() >= self._next_outbox:
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

    def refused(self, status: int, reason: str, client: str) -> None:
        """:attr:`IntakeConfig.on_refused` (called on an HTTP thread)."""
        self.refusals.append((status, reason, client))
        self.wake.set()

    def _record_refusals(self) -> None:
        """One ``intake`` row per refused request (outcome ``refused``, code ``http-<status>``)."""
        if not self.refusals:
            return
        taken = [self.refusals.popleft() for _ in range(len(self.refusals))]
        try:
            with self.audit.transaction():
                for status, reason, client in taken:
                    self.audit.record_intake(f"http:{client}", "refused", code=f"http-{status}", reason=reason,
                                             rules_hash=self.pipeline.rules_hash)
        except AuditError as exc:
            self.refusals.extendleft(reversed(taken))
            self._db_down(exc)

    def _chores(self) -> None:
        """Idle: expire fusion windows that have ended, check that the audit log takes writes."""
        now = time.monotonic()
        if now < self._next_chores and self.health.db_writable:
            return
        self._next_chores = now + self.config.chores_every
        changes = self.audit.changes
        try:
            self.pipeline.tick(datetime.now(UTC))
        except AuditError as exc:
            self._db_error(exc)
            return
        self._wrote(changes)
        self._check_db()

    def _log_cycle(self, s: Stats) -> None:
        logger.info("cycle", extra={"event": "cycle", "done": s.done, "failed": s.failed, "decided": s.decided,
                                    "actions": sum(s.actions.values())})

    # -- operations -------------------------------------------------------------------------
    def swap(self, compiled: Any) -> None:
        """New rules, between two files: a new Pipeline (new Decider) and Executor policy."""
        old = self.pipeline
        # the loaded severity model (if the Decider has one) carries over: a reload is about rules
        self.pipeline = Pipeline(compiled, old.audit, max_event_bytes=old.max_event_bytes,
                                 max_body_bytes=old.max_body_bytes, max_clock_skew=old.max_clock_skew,
                                 model=getattr(old.decider, "model", None))
        self.executor = dataclasses.replace(self.executor, policy=compiled.policy, _adapters={})
        self.dispatcher.executor = self.executor  # sends in flight keep the adapters they started with
        if self.triage is not None:
            self.triage.classify = classifier(self.pipeline)
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

    def _maybe_prune(self) -> None:
        if time.monotonic() < self._next_prune:
            return
        self._next_prune = time.monotonic() + self.config.prune_every
        removed = self.spool.prune_done(self.config.retention_days)
        if removed:
            logger.info("pruned done/", extra={"event": "pruned", "files": removed})
        if self.config.history_days and time.monotonic() >= self._next_history and not self.audit.in_transaction:
            self._next_history = time.monotonic() + self.config.history_prune_every
            from engine.store.retention import prune

            try:
                out = prune(self.audit, time.time() - self.config.history_days * 86400)
            except Exception as exc:  # noqa: BLE001 - a failed prune must not stop deciding; the next day retries
                logger.error("history prune failed", extra={"event": "history-prune-failed", "error": str(exc)})
                return
            logger.info("pruned history", extra={"event": "history-pruned", **out})


def _defer_every_wait(_seconds: float) -> bool:
    """The daemon's :attr:`Executor.defer`: every wait between attempts is taken by the outbox."""
    return True
