"""The daemon's outbox slices: due actions offered to the concurrent executor (:mod:`engine.run.dispatch`)
for a bounded time, finished sends recorded, SIGTERM's drain; ``serial`` keeps the one-at-a-time executor."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

from engine.model.errors import AuditError
from engine.run.daemon.metrics import Metrics
from engine.run.dispatch import Dispatcher
from engine.run.execute import Executor

logger = logging.getLogger("escalation_handlers.daemon")


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


class OutboxSlices:
    """Mixed into :class:`~engine.run.daemon.loop.Daemon`."""

    audit: Any
    executor: Executor
    metrics: Metrics
    stop: threading.Event
    config: Any
    _next_outbox: float
    _retrying: dict[int, tuple[float, int, float, int]]
    _next_observe: float
    _outbox_dirty: bool  # rows were requested (a batch was decided) since the last look at the outbox
    _due: list[dict[str, Any]]  # due rows read last time and still waiting for a lane, most urgent first
    _due_full: bool
    dispatcher: Dispatcher
    health: Any

    if TYPE_CHECKING:  # provided by DbHealth and Daemon
        def _db_down(self, exc: BaseException) -> NoReturn: ...
        def _count(self, counter: Any, *labels: str) -> None: ...
        def _db_error(self, exc: BaseException, kind: str = "write") -> None: ...

    def settle_in_flight(self) -> int:
        """Actions whose successful attempt was recorded but whose result was not (killed in
        between): record the result from that attempt rather than sending a second time."""
        return int(self.audit.settle_in_flight())

    def _outbox(self, stats: Stats, budget: float, limit: int = 500) -> bool:
        """Execute due actions, oldest first, for about ``budget`` seconds. True if due ones were left.

        Results of actions that send nothing (not configured, cancelled, unrenderable) share one
        transaction per slice; the executor commits it before any side effect, so a ``starts`` row
        is still durable before its send. Lost in a crash, such a result is simply recorded again.
        """
        try:
            return self._outbox_slice(stats, budget, limit)
        finally:
            if self.audit.in_transaction:
                try:
                    self.audit.commit()
                except AuditError as exc:
                    self._db_down(exc)

    def _outbox_slice(self, stats: Stats, budget: float, limit: int) -> bool:
        if not self.config.serial:
            return self._dispatch_slice(stats, budget, limit)
        now = time.monotonic()
        self._next_outbox, deadline = now + self.config.outbox_every, now + budget
        while not self.stop.is_set():
            now = time.monotonic()
            waiting = [aid for aid, (at, *_) in self._retrying.items() if at > now]  # in backoff: not yet
            try:
                rows = self.audit.pending_actions(limit=limit, **({"skip": waiting} if waiting else {}))
            except AuditError as exc:
                self._db_down(exc)
            for n, row in enumerate(rows, 1):
                if self.stop.is_set():
                    return False  # no result yet: executed after the restart
                if not self.audit.in_transaction:
                    try:
                        self.audit.begin()
                    except AuditError as exc:
                        self._db_down(exc)
                self._execute(row, stats)
                if time.monotonic() >= deadline:
                    return n < len(rows) or len(rows) == limit
            if len(rows) < limit:
                return False
        return False

    def _dispatch_slice(self, stats: Stats, budget: float, limit: int) -> bool:
        """The concurrent executor's turn: record finished sends, then offer due rows (most urgent first)
        to free lanes and launch them. True when the slice ran out with rows left to offer.

        The due rows are read again only when something may have changed them — a batch was decided, a
        retry or a paused lane came due, ``outbox_every`` passed (steps coming due) — else the rows read
        last time that were waiting for a lane are offered again when a send finishes (no query)."""
        d = self.dispatcher
        now = time.monotonic()
        deadline = now + budget
        left = False
        try:
            finished = d.harvest()
            self._harvested(finished, stats)
            if self.audit.in_transaction:
                self.audit.commit()
            if self.stop.is_set():
                return False  # stopping: nothing new is sent (due rows are sent after the restart)
            wake = d.next_wake()
            rescan = self._outbox_dirty or now >= self._next_outbox or (wake is not None and wake <= now)
            if not (finished or rescan):
                return False  # nothing changed since the last look
            if rescan:
                self._outbox_dirty = False
                self._next_outbox = now + self.config.outbox_every
                self._due = self.audit.pending_actions(limit=limit, skip=d.busy_ids(),
                                                       exclude=d.closed_adapters(), by_priority=True)
                self._due_full = len(self._due) == limit
                self._observe_queue()
            busy, closed = set(d.busy_ids()), set(d.closed_adapters())
            rows, keep = self._due, []
            deadline = max(deadline, time.monotonic() + budget / 2)  # the read never takes the whole slice
            for i, row in enumerate(rows):
                if self.stop.is_set() or (i and time.monotonic() >= deadline):
                    keep.extend(rows[i:])
                    left = not self.stop.is_set()
                    break
                if row["id"] in busy:
                    continue  # in flight or in backoff: read again when it is due
                if row["action"] in closed:
                    keep.append(row)
                    continue
                if not self.audit.in_transaction:
                    self.audit.begin()
                offered = d.offer(row)
                if not isinstance(offered, str):
                    self._harvested([offered], stats)
                elif offered == "waiting":
                    keep.append(row)
            self._due = keep
            d.launch()
        except AuditError as exc:
            self._db_down(exc)
        if not left and self._due_full and len(self._due) < limit // 2:
            self._outbox_dirty = True  # the last read was cut at ``limit``: read the rest next turn
        return left

    def _harvested(self, reports: list[Any], stats: Stats) -> None:
        for report in reports:
            if report.outcome == "retrying":
                continue
            key = (report.action, report.outcome)
            stats.actions[key] += 1
            self._count(self.metrics.actions, *key)

    def _observe_queue(self) -> None:
        """The gauges of /metrics: due rows and the oldest one's age per adapter, sends in flight (read by the
        HTTP thread from a snapshot taken here, at most once a second)."""
        now = time.monotonic()
        if now < self._next_observe:
            return
        self._next_observe = now + 1.0
        self.metrics.observe_outbox(self.audit.due_by_action(), self.dispatcher.in_flight(),
                                    self.dispatcher.circuits())
        self.health.circuits = self.dispatcher.circuits()

    def drain(self, grace: float) -> list[int]:
        """SIGTERM: wait up to ``grace`` seconds for the sends in flight and record them; return (and log)
        the ids still unanswered: they keep their ``starts`` row and no result, so the restart sends them
        again (at-least-once; the vendor deduplicates by the idempotency key)."""
        d = self.dispatcher
        deadline = time.monotonic() + grace
        stats = Stats()
        while d.flights and time.monotonic() < deadline:
            d.wait(max(0.0, deadline - time.monotonic()))
            try:
                self._harvested(d.harvest(), stats)
                if self.audit.in_transaction:
                    self.audit.commit()
            except AuditError as exc:
                self._db_error(exc)
                break
        left = d.unfinished()
        if left:
            logger.warning("stopped with sends in flight; sent again after the restart",
                           extra={"event": "unfinished", "action_ids": left[:100], "actions": len(left)})
        d.close()
        return left

    def _execute(self, row: dict[str, Any], stats: Stats) -> None:
        action_id = int(row["id"])
        retry = self._retrying.get(action_id)
        try:
            report = self.executor.run_one(row, retry[1:]) if retry else self.executor.run_one(row)
            key = (report.action, report.outcome)
        except AuditError as exc:
            self._db_down(exc)
        except Exception as exc:  # an adapter bug: give the action a failed result, never loop on it
            logger.exception("action raised", extra={"event": "action-error", "action_id": row["id"]})
            self.audit.record_result(action_id, "failed", f"{type(exc).__name__}: {exc}", "other",
                                     row["rules_hash"])
            key = (str(row["action"]), "failed")
        else:
            if report.outcome == "retrying":  # attempt recorded, no result: the outbox runs it again when due
                wait = report.retry_in if report.retry_in is not None else 0.0  # no wait given: due at once
                self._retrying[action_id] = (time.monotonic() + wait, report.next_attempt, wait, report.used)
                return
        self._retrying.pop(action_id, None)
        stats.actions[key] += 1
        self._count(self.metrics.actions, *key)
