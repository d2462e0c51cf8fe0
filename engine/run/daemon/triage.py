"""Storm intake: a cheap severity pre-pass over the files waiting in ``incoming/``, so that a CRITICAL
event is decided ahead of a backlog instead of behind it.

Without it the daemon takes files in name order: a CRITICAL file behind 50,000 others waits for all
of them (~20 s at ~2,500 files/s). With it, while a backlog waits (more files queued than one batch):

* ``incoming/`` is listed (names only, the newest ``window`` names) every ``every`` seconds — or less
  often, so that listing takes at most 1/``LOOK_SHARE`` of the time — and the names not seen before
  are *triaged*, **newest first** (with time-sortable names: the latest arrivals first), for at most
  ``budget`` seconds per turn: read, parsed by the intake parser and matched against the policy's
  top-severity rules (:func:`urgent_rules`) with the engine's own condition semantics
  (:func:`engine.compiler.conditions.evaluate`). Rules that need the model or the history
  (``model.*``, ``history.*``) cannot match here: such a file is decided in its place;
* a file that matches is *promoted*: it is claimed next, together with every waiting file of the
  same service(s) that the triage has read and whose name sorts before it (so each service's events
  stay in order), in a batch of their own;
* promoted and plain batches alternate while both wait, so the backlog keeps at least half of the
  intake (an outage that makes every file CRITICAL does not starve the oldest ones).

Ordering: a service's files keep their name order among the files the triage has read. When the triage
is behind (a fresh backlog larger than one turn's budget, or files arriving faster than it reads them,
~37,000 per CPU-second), a CRITICAL file found first may overtake older files of its own service that
were not read yet: those are then decided like files that arrived late (decisions are on the event
clock). Nothing here moves or changes a file: a promoted file is claimed into ``processing/`` exactly
like any other (the crash recovery is the same), and what triage remembers (names and services) is lost
in a crash at no cost. A file that cannot be read or parsed here is simply not promoted; its claim
records why. Cost: the listings, and one extra read and parse per file (~27 µs against ~400 µs to
decide it); memory: O(``window``) names.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import os
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engine.compiler import conditions
from engine.model.event import Event, event_document
from engine.model.policy import RANK
from engine.run.daemon.spool import Spool, is_temporary

logger = logging.getLogger("escalation_handlers.daemon")
_NO_SERVICE: tuple[str, ...] = ()
LOOK_SHARE = 20  # a listing of incoming/ takes at most 1/20 of the time between two (it grows with the backlog)
Classify = Callable[[bytes], tuple[bool, tuple[str, ...]]]  # a file's bytes -> (urgent?, its services)


def urgent_rules(policy: Any) -> list[Any]:
    """The severity rules of the policy's highest severity (CRITICAL in the shipped policy)."""
    rules = list(policy.severity_rules)
    top = max((RANK.get(r.severity, 0) for r in rules), default=0)
    return [r for r in rules if RANK.get(r.severity, 0) == top and top > 0]


def classifier(pipeline: Any) -> Classify:
    """Parse like the pipeline, then match the urgent rules on each event's document."""
    rules = urgent_rules(pipeline.compiled.policy)

    def classify(data: bytes) -> tuple[bool, tuple[str, ...]]:
        events = [i for i in pipeline.parse(data) if isinstance(i, Event)]
        services = tuple(sorted({e.service for e in events}))
        for e in events:
            doc = event_document(e)
            if any(conditions.evaluate(r.when, doc) for r in rules):
                return True, services
        return False, services

    return classify


@dataclass
class Triage:
    spool: Spool
    classify: Classify
    every: float = 1.0  # seconds between two listings of incoming/ while a backlog waits (0: every turn)
    budget: float = 0.5  # seconds of reading and parsing per turn at most (one file at least)
    window: int = 100_000  # the newest names of a listing that are considered
    limit: int = 10_000_000  # bytes read per file at most (a larger file is never promoted)
    clock: Callable[[], float] = time.monotonic
    _seen: dict[str, tuple[str, ...]] = field(default_factory=dict)  # triaged and still waiting -> services
    _pending: list[str] = field(default_factory=list)  # not yet triaged, ascending (pop() takes the newest)
    _urgent: list[str] = field(default_factory=list)  # triaged urgent, not yet promoted, ascending
    _next_look: float = 0.0
    _interned: dict[tuple[str, ...], tuple[str, ...]] = field(default_factory=dict)

    def turn(self) -> None:
        """One turn during a backlog: list ``incoming/`` if due, then triage for up to ``budget`` seconds."""
        now = self.clock()
        if now >= self._next_look:
            self._look()
            if self.every > 0:  # 0: before every batch, whatever it costs
                self._next_look = now + max(self.every, LOOK_SHARE * (self.clock() - now))
        deadline = self.clock() + self.budget
        while self._pending:
            name = self._pending.pop()
            self._triage(name)
            if self.clock() >= deadline:
                break

    def reset(self) -> None:
        """No backlog: nothing to remember (the next backlog is listed afresh)."""
        if self._seen or self._pending or self._urgent:
            self._seen, self._pending, self._urgent, self._interned = {}, [], [], {}
        self._next_look = 0.0

    def take(self, limit: int) -> list[str]:
        """Names to claim now, in name order: the urgent files triaged so far, each with the waiting files of
        its services that sort before it; at most about ``limit`` (one urgent group is never split)."""
        if not self._urgent:
            return []
        index: defaultdict[str, list[str]] = defaultdict(list)
        for name, services in self._seen.items():
            for s in services:
                index[s].append(name)
        chosen: set[str] = set()
        left: list[str] = []
        for u in sorted(self._urgent):
            if len(chosen) >= limit:
                left.append(u)
                continue
            chosen.add(u)
            for s in self._seen.get(u, ()):
                chosen.update(n for n in index[s] if n < u)
        for name in chosen:
            self._seen.pop(name, None)
        self._urgent = left
        return sorted(chosen)

    @property
    def waiting(self) -> bool:
        return bool(self._urgent)

    def _look(self) -> None:
        with os.scandir(self.spool.incoming) as it:
            names = heapq.nlargest(self.window, (e.name for e in it if not is_temporary(e.name)))
        present = set(names)
        self._seen = {n: s for n, s in self._seen.items() if n in present}  # claimed since: forgotten
        self._urgent = [n for n in self._urgent if n in present]
        self._pending = [n for n in reversed(names) if n not in self._seen]  # ascending

    def _triage(self, name: str) -> None:
        path = os.path.join(self.spool.incoming, name)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            return  # claimed meanwhile, or not a file we would read: its claim tells
        try:
            data = os.read(fd, self.limit + 1) if os.fstat(fd).st_size <= self.limit else b""
        except OSError:
            data = b""
        finally:
            os.close(fd)
        urgent, services = False, _NO_SERVICE
        if data:
            with contextlib.suppress(Exception):  # bad input is the claim's to record; here it is just not urgent
                urgent, services = self.classify(data)
        services = self._interned.setdefault(services, services)
        self._seen[name] = services
        if urgent:
            self._urgent.append(name)

