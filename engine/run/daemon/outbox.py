"""The daemon's outbox slices: due actions executed for a bounded time, retries in backoff kept off the loop."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

from engine.model.errors import AuditError
from engine.run.daemon.metrics import Metrics
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
    _retrying: dict[int, tuple[float, int, float]]

    if TYPE_CHECKING:  # provided by DbHealth and Daemon
        def _db_down(self, exc: BaseException) -> NoReturn: ...
        def _count(self, counter: Any, *labels: str) -> None: ...

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
        now = time.monotonic()
        self._next_outbox, deadline = now + self.config.outbox_every, now + budget
        while not self.stop.is_set():
            now = time.monotonic()
            waiting = [aid for aid, (at, _, _) in self._retrying.items() if at > now]  # in backoff: not yet
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
                self._retrying[action_id] = (time.monotonic() + wait, report.next_attempt, wait)
                return
        self._retrying.pop(action_id, None)
        stats.actions[key] += 1
        self._count(self.metrics.actions, *key)
