"""What the concurrent executor (:mod:`engine.run.dispatch`) keeps per vendor: worker threads, limits, a circuit.

* :class:`Workers`: up to ``size`` daemon threads per adapter, fed by one queue; each calls
  ``adapter.send`` (the only I/O) and hands ``(action id, outcome | exception)`` back through one
  shared queue. Nothing here touches the audit log. The threads are daemon threads: a SIGTERM that
  outlasts its grace period never waits for a vendor that hangs. They are started by a spawner thread,
  never by the caller of ``submit`` (the loop): ``Thread.start()`` waits until the new thread runs, and
  with a few hundred threads busy that took ~14 ms per thread (benchmarks/delivery.py ``inflight``).
* :class:`Limits`: sends in flight per adapter and per destination key, the circuit's thresholds.
* :class:`Breaker`: per adapter; ``failures`` consecutive failures of the vendor (timeout, connection,
  5xx) open it for ``cooldown`` seconds (doubling while it keeps failing, at most ``max_cooldown``);
  then one send is let through (half-open): its success closes it. While open, the adapter's rows
  stay due (delayed, never failed) and take no worker.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

VENDOR_FAILURES = ("timeout", "connectError", "serverError")  # what counts against a vendor's circuit


@dataclass(frozen=True)
class Limits:
    per_adapter: int = 64  # sends in flight per adapter (its worker threads)
    per_key: int = 48  # per destination key (an adapter's ``key_env``: PagerDuty's routing key)
    adapters: Mapping[str, int] = field(default_factory=dict)  # per_adapter for one adapter by name
    breaker_failures: int = 5
    breaker_cooldown: float = 15.0
    breaker_max_cooldown: float = 300.0
    vendor_pause: float = 1.0  # a vendor's 429 holds its destination back this long at most (see dispatch)
    rate_jitter: float = 2.0  # a rate-limited send waits its Retry-After plus up to this much (no herd)

    def for_adapter(self, name: str) -> int:
        return max(1, int(self.adapters.get(name, self.per_adapter)))


@dataclass
class Breaker:
    failures: int = 0
    opened_at: float | None = None
    cooldown: float = 0.0
    probing: bool = False  # half-open: one send let through

    def state(self, now: float) -> str:
        if self.opened_at is None:
            return "closed"
        return "half-open" if now >= self.opened_at + self.cooldown else "open"

    def success(self) -> bool:
        """True when this closed an open circuit."""
        was_open = self.opened_at is not None
        self.failures, self.opened_at, self.cooldown, self.probing = 0, None, 0.0, False
        return was_open

    def failure(self, now: float, limits: Limits) -> bool:
        """Count a vendor failure; True when this opened the circuit (or re-opened it after a probe)."""
        self.failures += 1
        self.probing = False
        if self.opened_at is not None:  # the half-open probe failed: open again, for longer
            self.opened_at, self.cooldown = now, min(limits.breaker_max_cooldown, 2 * self.cooldown)
            return True
        if self.failures >= limits.breaker_failures:
            self.opened_at, self.cooldown = now, limits.breaker_cooldown
            return True
        return False


class Workers:
    """Per-adapter worker threads; results come back on :attr:`done`, and ``notify`` is called for each."""

    def __init__(self, notify: Callable[[], None] = lambda: None) -> None:
        self.done: queue.Queue[tuple[int, Any, BaseException | None]] = queue.Queue()
        self.notify = notify
        self._ready = threading.Event()
        self._queues: dict[str, queue.Queue[tuple[int, Any, Any] | None]] = {}
        self._wanted: dict[str, int] = {}  # threads asked of the spawner, per adapter
        self._threads: list[threading.Thread] = []  # started by the spawner (under _lock)
        self._lock = threading.Lock()
        self._spawn: queue.Queue[tuple[str, queue.Queue[tuple[int, Any, Any] | None]] | None] = queue.Queue()
        self._spawner: threading.Thread | None = None

    def submit(self, name: str, size: int, action_id: int, adapter: Any, request: Any) -> None:
        q = self._queues.get(name)
        if q is None:
            q = self._queues[name] = queue.Queue()
            self._wanted[name] = 0
        if self._wanted[name] < size:  # started lazily, never more than the adapter's limit
            self._wanted[name] += 1
            if self._spawner is None:  # the one thread start the caller waits for
                self._spawner = threading.Thread(target=self._spawning, args=(self._spawn,), name="send-spawner",
                                                 daemon=True)
                self._spawner.start()
            self._spawn.put((name, q))
        q.put((action_id, adapter, request))

    def _spawning(self, spawn: queue.Queue[tuple[str, queue.Queue[tuple[int, Any, Any] | None]] | None]) -> None:
        started: Counter[str] = Counter()
        while True:
            item = spawn.get()
            if item is None:
                return
            name, q = item
            t = threading.Thread(target=self._work, args=(q,), name=f"send-{name}-{started[name]}", daemon=True)
            started[name] += 1
            with self._lock:
                self._threads.append(t)
            t.start()

    def _work(self, q: queue.Queue[tuple[int, Any, Any] | None]) -> None:
        while True:
            item = q.get()
            if item is None:
                return
            action_id, adapter, request = item
            try:
                outcome, error = adapter.send(request), None
            except BaseException as exc:  # noqa: BLE001 - an ActionFailed, or an adapter bug: the loop records it
                outcome, error = None, exc
            self.done.put((action_id, outcome, error))
            self._ready.set()
            self.notify()

    def wait(self, timeout: float) -> bool:
        """Block until a result is waiting (True) or ``timeout`` passed."""
        if self.done.empty():
            self._ready.wait(timeout)
        self._ready.clear()
        return not self.done.empty()

    def close(self, wait: float = 1.0) -> None:
        """Ask every thread to end, and wait up to ``wait`` seconds in all for the idle ones (one that is
        sending ends when its send does; it is a daemon thread, so it never holds up the exit)."""
        for name, q in self._queues.items():
            for _ in range(self._wanted[name]):
                q.put(None)
        spawn, self._spawn = self._spawn, queue.Queue()
        spawn.put(None)  # after the spawn requests: every thread asked for is started, then ends
        spawner, self._spawner = self._spawner, None
        self._queues, self._wanted = {}, {}
        deadline = time.monotonic() + wait
        if spawner is not None:
            spawner.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            threads, self._threads = self._threads, []
        for t in threads:
            if t.ident is not None:
                t.join(max(0.0, deadline - time.monotonic()))
