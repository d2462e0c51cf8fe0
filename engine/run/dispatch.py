"""The daemon's concurrent executor: due outbox rows sent in parallel, one audit-log writer.

The loop thread does everything that touches the audit log; worker threads (:mod:`engine.run.lanes`)
only call ``adapter.send``. One action's life:

1. :meth:`Dispatcher.offer` (loop thread): cancellation, memo, configuration and rendering through
   :meth:`Executor.prepare` (a result for what sends nothing); else the row waits for a free lane —
   per adapter (``Limits.per_adapter`` sends in flight), per destination key (``Limits.per_key``,
   the adapter's ``key_env``: PagerDuty limits per routing key), one send at a time per (adapter,
   incident) so a resolve never overtakes its trigger, and no send while the adapter's circuit is open
   or its destination is rate-limited.
2. :meth:`Dispatcher.launch` (loop thread): the ``starts`` rows of every queued send commit in one
   transaction, *then* the sends are handed to the adapter's workers (a ``starts`` row is durable
   before each send).
3. :meth:`Dispatcher.harvest` (loop thread): each finished send becomes an ``attempts`` row and either
   its one result (``ok``; ``failed`` when permanent or out of attempts) or a retry in backoff.

A rate limit (the vendor's 429, or an adapter's own limiter: reason ``rateLimited``) delays a send and
never spends an attempt or fails it: the send waits its ``Retry-After`` plus its own jitter (so they do
not all come back at once), and the destination pauses — until the adapter's own limiter frees a slot,
or for at most ``Limits.vendor_pause`` after a vendor's 429. The retry budget is
``budget(intent)`` (default: the executor's :class:`~actions.retry.RetryPolicy` for every intent).

Crash safety is the outbox's: an action with a ``starts`` row and no result is sent again after a
restart (at-least-once, deduplicated by the vendor on the idempotency key); one whose success was
recorded as an attempt is settled from it (:meth:`Audit.settle_in_flight`).
"""

from __future__ import annotations

import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from actions.base import ActionFailed, Intent
from actions.retry import Attempt, RetryPolicy
from engine.run.execute import ActionReport, Executor, Prepared
from engine.run.lanes import VENDOR_FAILURES, Breaker, Limits, Workers

logger = logging.getLogger("escalation_handlers.daemon")


@dataclass
class Backoff:
    at: float  # monotonic time the next attempt is due
    number: int  # that attempt's number
    waited: float
    used: int  # attempts spent (rate-limited ones are not)


@dataclass
class Flight:
    ready: Prepared
    lane: str  # adapter:key_env ("" for an adapter without a destination key)
    number: int
    used: int
    waited: float
    started: float = 0.0


@dataclass
class Dispatcher:
    executor: Executor
    limits: Limits = field(default_factory=Limits)
    budget: Callable[[Intent], RetryPolicy] | None = None
    clock: Callable[[], float] = time.monotonic
    rng: random.Random = field(default_factory=random.Random)
    notify: Callable[[], None] = lambda: None
    flights: dict[int, Flight] = field(default_factory=dict)
    backoff: dict[int, Backoff] = field(default_factory=dict)
    breakers: dict[str, Breaker] = field(default_factory=dict)
    paused: dict[str, float] = field(default_factory=dict)  # lane (or adapter) -> time it may send again
    _queued: list[Flight] = field(default_factory=list)
    _load: Counter[str] = field(default_factory=Counter)  # adapter -> sends queued or in flight
    _lanes: Counter[str] = field(default_factory=Counter)  # lane -> sends queued or in flight
    _incidents: set[tuple[str, str]] = field(default_factory=set)  # (adapter, incident) queued or in flight
    _workers: Workers | None = None

    @property
    def workers(self) -> Workers:
        if self._workers is None:
            self._workers = Workers(self.notify)
        return self._workers

    # -- what the loop asks ---------------------------------------------------------------
    def busy_ids(self) -> list[int]:
        """Ids not to be offered now: in flight, queued, or in backoff and not yet due."""
        now = self.clock()
        return [*self.flights, *(f.ready.action_id for f in self._queued),
                *(aid for aid, b in self.backoff.items() if b.at > now)]

    def closed_adapters(self) -> list[str]:
        """Adapters that can take no send now: every worker busy, or the circuit open."""
        now = self.clock()
        return sorted({name for name, n in self._load.items() if n >= self.limits.for_adapter(name)}
                      | {name for name, b in self.breakers.items() if b.state(now) == "open"
                         or (b.state(now) == "half-open" and (b.probing or self._load[name]))})

    def in_flight(self) -> Counter[str]:
        return Counter(f.ready.intent.action for f in self.flights.values())

    def circuits(self) -> dict[str, str]:
        now = self.clock()
        return {name: b.state(now) for name, b in sorted(self.breakers.items()) if b.state(now) != "closed"}

    def finished(self) -> bool:
        """A send finished and waits to be recorded."""
        return self._workers is not None and not self._workers.done.empty()

    def next_wake(self) -> float | None:
        """Monotonic time something held back may go: a retry in backoff, a paused lane, a circuit's probe."""
        now = self.clock()
        times = [b.at for b in self.backoff.values()]
        times += [t for t in self.paused.values() if t > now]
        times += [b.opened_at + b.cooldown for b in self.breakers.values() if b.opened_at is not None]
        return min(times, default=None)

    # -- 1. offer ----------------------------------------------------------------------------
    def offer(self, row: Mapping[str, Any]) -> ActionReport | str:
        """A report when the row ended without a send; "queued" when a send is queued; "waiting" when its
        lane is full (it stays due and is offered again). The lane checks come first and cost no query."""
        action, incident = str(row["action"]), str(row.get("incident_id") or "")
        if incident and (action, incident) in self._incidents:
            return "waiting"  # one send at a time per (adapter, incident): a resolve never overtakes its trigger
        now = self.clock()
        breaker = self.breakers.get(action)
        if breaker is not None and breaker.state(now) != "closed" and (breaker.probing or breaker.state(now) == "open"):
            return "waiting"
        if self._load[action] >= self.limits.for_adapter(action):
            return "waiting"
        lane = self._lane(action)
        if self.paused.get(lane or action, 0.0) > now or (lane and self._lanes[lane] >= self.limits.per_key):
            return "waiting"
        ready = self.executor.prepare(row)
        if isinstance(ready, ActionReport):
            self.backoff.pop(ready.action_id, None)
            return ready
        retry = self.backoff.pop(ready.action_id, None)
        flight = Flight(ready, lane, retry.number if retry else 1, retry.used if retry else 0,
                        retry.waited if retry else 0.0)
        if breaker is not None and breaker.state(now) == "half-open":
            breaker.probing = True
        self._hold(flight)
        self._queued.append(flight)
        return "queued"

    def _lane(self, action: str) -> str:
        """The destination lane: ``action:key_env`` for an adapter that names its key (PagerDuty), else ""."""
        try:
            key = getattr(self.executor.adapter(action), "key_env", "")
        except Exception:  # noqa: BLE001 - an unknown or broken adapter: prepare() records why
            key = ""
        return f"{action}:{key}" if key else ""

    def _hold(self, f: Flight) -> None:
        self._load[f.ready.intent.action] += 1
        self._incidents.add((f.ready.intent.action, f.ready.intent.incident_id))
        if f.lane:
            self._lanes[f.lane] += 1

    def _release(self, f: Flight) -> None:
        self._load[f.ready.intent.action] -= 1
        self._incidents.discard((f.ready.intent.action, f.ready.intent.incident_id))
        if f.lane:
            self._lanes[f.lane] -= 1

    # -- 2. launch ---------------------------------------------------------------------------
    def launch(self) -> int:
        """Commit the queued sends' ``starts`` rows, then hand the sends to the workers."""
        queued, self._queued = self._queued, []
        if not queued:
            return 0
        audit = self.executor.audit
        if not audit.in_transaction:
            audit.begin()
        try:
            for f in queued:
                audit.record_start(f.ready.action_id, f.number, f.ready.rules_hash)
            audit.commit()  # durable before any of these sends
        except BaseException:
            for f in queued:  # not sent: offered again when the log takes writes
                self._release(f)
                self.breakers.get(f.ready.intent.action, Breaker()).probing = False
            raise
        for f in queued:
            f.started = self.clock()
            self.flights[f.ready.action_id] = f
            name = f.ready.intent.action
            _warm(f.ready.adapter)
            self.workers.submit(name, self.limits.for_adapter(name), f.ready.action_id, f.ready.adapter,
                                f.ready.request)
        return len(queued)

    # -- 3. harvest ----------------------------------------------------------------------------
    def harvest(self) -> list[ActionReport]:
        """Record every finished send (caller holds no transaction; one is opened if any finished)."""
        reports: list[ActionReport] = []
        if self._workers is None:
            return reports
        done = self._workers.done
        while not done.empty():
            action_id, outcome, error = done.get_nowait()
            flight = self.flights.pop(action_id, None)
            if flight is None:
                continue
            self._release(flight)
            if not self.executor.audit.in_transaction:
                self.executor.audit.begin()
            report = self._conclude(flight, outcome, error)
            if report is not None:
                reports.append(report)
        return reports

    def _conclude(self, f: Flight, outcome: Any, error: BaseException | None) -> ActionReport | None:
        audit, ready, now = self.executor.audit, f.ready, self.clock()
        name, intent = ready.intent.action, ready.intent
        breaker = self.breakers.setdefault(name, Breaker())
        if error is None:
            audit.record_attempt(ready.action_id, Attempt(f.number, True, outcome.detail, waited=f.waited),
                                 ready.rules_hash)
            if breaker.success():
                logger.warning("circuit closed", extra={"event": "circuit-closed", "action": name})
            memo = dict(outcome.memo) if outcome.memo else None
            return self.executor.finish(ready.action_id, intent, "ok", outcome.detail, None, ready.rules_hash,
                                        f.used + 1, memo)
        if not isinstance(error, ActionFailed):  # an adapter bug: a failed result, never a loop on it
            logger.error("action raised", extra={"event": "action-error", "action_id": ready.action_id,
                                                 "error": f"{type(error).__name__}: {error}"})
            error = ActionFailed(f"{type(error).__name__}: {error}", retryable=False, reason="other")
        detail = str(error)
        opened = error.reason in VENDOR_FAILURES and breaker.failure(now, self.limits)
        if not opened and error.reason not in VENDOR_FAILURES and breaker.probing:
            breaker.probing = False  # the probe got an answer that says nothing about the vendor's health
        if opened:
            detail += f" (circuit for {name} open for {breaker.cooldown:.0f} s after {breaker.failures} failures)"
            logger.warning("circuit open", extra={"event": "circuit-open", "action": name,
                                                  "seconds": breaker.cooldown, "failures": breaker.failures})
        audit.record_attempt(ready.action_id, Attempt(f.number, False, detail, error.reason, error.retryable,
                                                      error.status, f.waited), ready.rules_hash)
        policy = self.budget(intent) if self.budget else self.executor.retry_policy(intent)
        if error.retryable and error.reason == "rateLimited":  # delays, never spends an attempt
            wait = policy.delay(f.used + 1, self.rng, error.retry_after)
            # our own limiter (no HTTP status) knows when a slot frees up: the whole destination waits for it;
            # a vendor's 429 holds its destination back for at most ``vendor_pause`` (then one lane's worth of
            # sends probes again), so one throttled answer does not stall every other page for its Retry-After
            hold = wait if error.status is None else min(wait, self.limits.vendor_pause)
            where = f.lane or name
            self.paused[where] = max(self.paused.get(where, 0.0), now + hold)
            wait += self.rng.uniform(0, self.limits.rate_jitter)
            self.backoff[ready.action_id] = Backoff(now + wait, f.number + 1, wait, f.used)
            return ActionReport(ready.action_id, name, intent.kind, "retrying", detail, f.used, wait, f.number + 1)
        used = f.used + 1
        if not error.retryable or used >= policy.max_attempts:
            return self.executor.finish(ready.action_id, intent, "failed", detail, error.reason, ready.rules_hash,
                                        used)
        wait = policy.delay(used, self.rng, error.retry_after)
        self.backoff[ready.action_id] = Backoff(now + wait, f.number + 1, wait, used)
        return ActionReport(ready.action_id, name, intent.kind, "retrying", detail, used, wait, f.number + 1)

    # -- stop --------------------------------------------------------------------------------
    def wait(self, timeout: float) -> bool:
        """Block until a send finished (True) or ``timeout`` passed."""
        return self.workers.wait(timeout) if self.flights else False

    def unfinished(self) -> list[int]:
        return sorted(self.flights)

    def close(self) -> None:
        if self._workers is not None:
            self._workers.close()
            self._workers = None


def _warm(adapter: Any) -> None:
    """Create the adapter's httpx client on the loop thread: its workers then share one (connection reuse)."""
    http = getattr(adapter, "http", None)
    if http is not None and getattr(http, "_client", True) is None:
        http.client  # noqa: B018 - the lazy property creates it
