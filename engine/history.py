"""Historical context: the audit log's recent decisions for a service → ``history.*`` facts.

Takes a service and the current event's timestamp (virtual time: the *event* clock, never the
wall clock, so a replay or ``rules simulate`` sees the same history as the live run) and
returns the block rules address as ``history.*``:

``history.critical_1h`` / ``major_1h`` / ``moderate_1h``   incidents in the last hour
``history.critical_24h`` / ``major_24h`` / ``moderate_24h`` in the last 24 hours
``history.critical_7d`` / ``major_7d`` / ``moderate_7d``    in the last 7 days
``history.last_severity``     severity of the service's latest incident (absent if none)
``history.seconds_since_last``  seconds from that incident to this event (absent if none)

An *incident* is a decision above NONE; several decisions with the same ``incident_id``
count once, at their severity. Windows are half-open, ``(t - window, t]``: an incident exactly
one hour before the event is outside ``_1h``. Events stamped after the current one (arrived
out of order) are not counted. sqlite is the truth, so the counts survive a restart.

Cost: the counts are kept incrementally in memory per service (a deque and a counter of
distinct incidents per severity and window, evicted as event time advances), caught up from
the ``decisions`` rows added since the last call (``rowid > last``: the same connection sees the
current transaction's rows; a rollback is noticed because ``max(rowid)`` went down, and the cache
is rebuilt). An event older than the newest one seen for its service is answered exactly by the
two SQL queries below instead, which is what the in-memory path reproduces.
"""

from __future__ import annotations

import sqlite3
from collections import Counter, deque
from collections.abc import Callable
from datetime import datetime
from typing import Any

WINDOWS = (("1h", 3600), ("24h", 86400), ("7d", 7 * 86400))
COUNTED = ("CRITICAL", "MAJOR", "MODERATE")
HistoryProvider = Callable[[str, datetime], dict[str, Any]]

_COUNTS = ", ".join(
    f"COUNT(DISTINCT CASE WHEN severity = '{sev}' AND event_epoch > :now - {secs} THEN incident_id END)"
    for _, secs in WINDOWS
    for sev in COUNTED
)
_COUNT_SQL = (
    f"SELECT {_COUNTS} FROM decisions "
    f"WHERE service = :service AND event_epoch > :now - {WINDOWS[-1][1]} AND event_epoch <= :now"
)
_LAST_SQL = (
    "SELECT severity, event_epoch FROM decisions WHERE service = :service AND event_epoch <= :now "
    "AND severity != 'NONE' ORDER BY event_epoch DESC, rowid DESC LIMIT 1"
)
_NAMES = [f"{sev.lower()}_{name}" for name, _ in WINDOWS for sev in COUNTED]


_SPAN = WINDOWS[-1][1]


class _Window:
    """Distinct incidents of one severity within one window, for one service (event time only advances)."""

    __slots__ = ("seconds", "entries", "distinct")

    def __init__(self, seconds: int) -> None:
        self.seconds = seconds
        self.entries: deque[tuple[float, str]] = deque()
        self.distinct: Counter[str] = Counter()

    def add(self, epoch: float, incident: str) -> None:
        self.entries.append((epoch, incident))
        self.distinct[incident] += 1

    def count(self, now: float) -> int:
        cutoff = now - self.seconds
        while self.entries and self.entries[0][0] <= cutoff:
            _, incident = self.entries.popleft()
            self.distinct[incident] -= 1
            if not self.distinct[incident]:
                del self.distinct[incident]
        return len(self.distinct)


class _Service:
    def __init__(self) -> None:
        self.windows = {(sev, name): _Window(secs) for name, secs in WINDOWS for sev in COUNTED}
        self.latest = float("-inf")  # newest event time seen (any severity)
        self.last: tuple[str, float] | None = None  # newest incident: (severity, epoch)

    def add(self, severity: str, incident: str, epoch: float) -> bool:
        """False when the row is older than what is held (the caller rebuilds from sqlite)."""
        if epoch < self.latest:
            return False
        self.latest = epoch
        if severity in COUNTED:
            for name, _ in WINDOWS:
                self.windows[(severity, name)].add(epoch, incident)
            self.last = (severity, epoch)
        return True

    def facts(self, now: float) -> dict[str, Any]:
        out: dict[str, Any] = {f"{sev.lower()}_{name}": w.count(now) for (sev, name), w in self.windows.items()}
        if self.last is not None:
            out["last_severity"] = self.last[0]
            out["seconds_since_last"] = round(now - self.last[1], 3)
        return out


class AuditHistory:
    """A :data:`HistoryProvider` reading the audit log's ``decisions`` table."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._seen_rowid: int | None = None  # None: cache not built
        self._services: dict[str, _Service] = {}

    def __call__(self, service: str, at: datetime) -> dict[str, Any]:
        now = at.timestamp()
        self._catch_up()
        held = self._services.get(service)
        if held is None:
            held = self._services[service] = self._load(service, now)
        if held is not None and now >= held.latest:
            return {k: v for k, v in held.facts(now).items()}
        return self._query(service, now)

    def _catch_up(self) -> None:
        top = self.conn.execute("SELECT max(rowid) FROM decisions").fetchone()[0] or 0
        if self._seen_rowid is None or top < self._seen_rowid:  # first call, or a rollback removed rows
            self._services.clear()
        elif top > self._seen_rowid:
            rows = self.conn.execute("SELECT service, severity, incident_id, event_epoch FROM decisions "
                                     "WHERE rowid > ? ORDER BY rowid", (self._seen_rowid,))
            for service, severity, incident, epoch in rows:
                held = self._services.get(service)
                if held is not None and epoch is not None and not held.add(severity, incident, epoch):
                    del self._services[service]  # out-of-order row: rebuilt from sqlite on next use
        self._seen_rowid = top

    def _load(self, service: str, now: float) -> _Service:
        held = _Service()
        rows = self.conn.execute(
            "SELECT severity, incident_id, event_epoch FROM decisions WHERE service = ? AND event_epoch > ? "
            "ORDER BY event_epoch, rowid", (service, now - _SPAN))
        for severity, incident, epoch in rows:
            held.add(severity, incident, epoch)
        if held.last is None:  # the newest incident may be older than the longest window
            last = self.conn.execute(_LAST_SQL, {"service": service, "now": float("inf")}).fetchone()
            if last is not None:
                held.last = (last[0], last[1])
        return held

    def _query(self, service: str, now: float) -> dict[str, Any]:
        params = {"service": service, "now": now}
        counts = self.conn.execute(_COUNT_SQL, params).fetchone()
        out: dict[str, Any] = {name: int(n) for name, n in zip(_NAMES, counts, strict=True)}
        last = self.conn.execute(_LAST_SQL, params).fetchone()
        if last is not None:
            out["last_severity"] = last[0]
            out["seconds_since_last"] = round(params["now"] - last[1], 3)
        return out
