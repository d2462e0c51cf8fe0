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

Cost: the counts are kept incrementally in memory per service (per severity and window, each
distinct incident with the epoch of its newest row, evicted as event time advances; a service with
more than ``MAX_HELD`` incidents in a window is answered by the queries below instead, so memory
is bounded whatever the rate; the facts dict is kept current, so a call copies it), caught up from
the ``decisions`` rows added since the last call with ONE query per call: ``rowid >= anchor``, the
anchor being the newest row applied. The same connection sees the current transaction's rows; a
rollback is noticed because the anchor row is gone or different (its rowid may have been reused),
and the cache is rebuilt. An event older than the newest one seen for its service is answered
exactly by the two SQL queries below instead, which is what the in-memory path reproduces.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Protocol

from engine.model.history import COUNTED, WINDOWS  # noqa: F401 - re-exported

HistoryProvider = Callable[[str, datetime], dict[str, Any]]

class HistoryRows(Protocol):
    """The ``decisions`` rows history reads (implemented by :class:`engine.store.history.DecisionRows`).

    A row is ``(rowid, service, severity, incident_id, event_epoch)``; the rowid is the catch-up anchor."""

    def newest(self) -> tuple[Any, ...] | None: ...
    def since(self, rowid: int) -> list[tuple[Any, ...]]: ...
    def of_service(self, service: str, after: float) -> Iterable[tuple[str, str, float]]: ...
    def last_incident(self, service: str, now: float) -> tuple[str, float] | None: ...
    def counts(self, service: str, now: float) -> tuple[int, ...]: ...


_NAMES = [f"{sev.lower()}_{name}" for name, _ in WINDOWS for sev in COUNTED]


_SPAN = WINDOWS[-1][1]
_INF = float("inf")
# Eviction is checked exactly (``epoch <= now - window``) but only once ``now`` is within a second of the
# oldest entry's expiry: the margin keeps the shortcut safe against float rounding at any real epoch.
_MARGIN = 1.0
_NO_ROW = (0, None, None, None, None)  # the anchor of an empty table (rowids start at 1)
# A service with more distinct incidents than this in one window is answered from sqlite (exact, two
# queries per event) instead of being held in memory: memory stays bounded at any incident rate.
MAX_HELD = 20_000


class _Window:
    """Distinct incidents of one severity within one window, for one service (event time only advances).

    An incident is in the window while its *newest* row is (rows only arrive in event-time order), so
    only that is kept: ``incidents`` maps incident → newest epoch, oldest first. Repeats of an open
    incident cost nothing more; memory is one entry per distinct incident in the window.
    """

    __slots__ = ("seconds", "name", "incidents", "expires")

    def __init__(self, seconds: int, name: str) -> None:
        self.seconds = seconds
        self.name = name  # its fact, e.g. "major_24h"
        self.incidents: OrderedDict[str, float] = OrderedDict()
        self.expires = _INF  # no eviction can happen before this event time

    def add(self, epoch: float, incident: str) -> bool:
        """Hold one more row; True when it is a new distinct incident."""
        incidents = self.incidents
        if not incidents:
            self.expires = epoch + self.seconds - _MARGIN
        held = incident in incidents
        if held:  # the head may move: ``expires`` is then early, and evict() sets it right
            incidents.move_to_end(incident)
        incidents[incident] = epoch
        return not held

    def evict(self, now: float) -> int:
        """Drop incidents whose newest row is outside ``(now - seconds, now]``; return how many."""
        cutoff = now - self.seconds
        incidents, gone = self.incidents, 0
        while incidents:
            incident, epoch = next(iter(incidents.items()))
            if epoch > cutoff:
                self.expires = epoch + self.seconds - _MARGIN
                return gone
            del incidents[incident]
            gone += 1
        self.expires = _INF
        return gone

    def __len__(self) -> int:
        return len(self.incidents)


class _Service:
    """One service's windows and their counts, kept current as rows arrive and event time advances."""

    __slots__ = ("windows", "by_severity", "counts", "expires", "latest", "last", "oversized")

    def __init__(self) -> None:
        self.windows: list[_Window] = []  # in _NAMES order
        self.by_severity: dict[str, list[_Window]] = {sev: [] for sev in COUNTED}
        for name, secs in WINDOWS:
            for sev in COUNTED:
                window = _Window(secs, f"{sev.lower()}_{name}")
                self.windows.append(window)
                self.by_severity[sev].append(window)
        self.counts: dict[str, int] = dict.fromkeys(_NAMES, 0)  # the facts, in _NAMES order
        self.expires = _INF  # the earliest expiry over the windows
        self.latest = float("-inf")  # newest event time seen (any severity)
        self.last: tuple[str, float] | None = None  # newest incident: (severity, epoch)
        self.oversized = False  # a window holds more than MAX_HELD incidents

    def add(self, severity: str, incident: str, epoch: float) -> bool:
        """False when the row is older than what is held (the caller rebuilds from sqlite)."""
        if epoch < self.latest:
            return False
        self.latest = epoch
        windows = self.by_severity.get(severity)
        if windows is not None:
            for w in windows:
                if w.add(epoch, incident):
                    self.counts[w.name] += 1
                    if len(w) > MAX_HELD:
                        self.oversized = True
                if w.expires < self.expires:
                    self.expires = w.expires
            self.last = (severity, epoch)
        return True

    def facts(self, now: float) -> dict[str, Any]:
        if now >= self.expires:
            self._evict(now)
        out: dict[str, Any] = self.counts.copy()
        if self.last is not None:
            out["last_severity"] = self.last[0]
            out["seconds_since_last"] = round(now - self.last[1], 3)
        return out

    def _evict(self, now: float) -> None:
        expires = _INF
        for w in self.windows:
            if now >= w.expires:
                gone = w.evict(now)
                if gone:
                    self.counts[w.name] -= gone
            if w.expires < expires:
                expires = w.expires
        self.expires = expires


class AuditHistory:
    """A :data:`HistoryProvider` reading the audit log's ``decisions`` table."""

    def __init__(self, rows: HistoryRows) -> None:
        self.rows = rows  # the decisions rows (engine.store.history.DecisionRows: flushes the late writes first)
        # The newest row applied to the cache, as read (rowid first); None: cache not built.
        self._anchor: tuple[Any, ...] | None = None
        self._services: dict[str, _Service] = {}
        self._told = False  # the writer reports every row it adds (see recorded): no catch-up query
        self._by_sql: set[str] = set()  # services with more than MAX_HELD incidents in a window

    def recorded(self, service: str, severity: str, incident: str, epoch: float | None) -> None:
        """The single writer's report of the ``decisions`` row it just added.

        Once the writer reports its rows, calls skip the catch-up query. The writer must call
        :meth:`reset` when its transaction rolls back (the pipeline does).
        """
        if self._anchor is None:  # not built yet: the next call reads sqlite, this row included
            return
        held = self._services.get(service)
        if held is not None and epoch is not None:
            self._apply(service, held, severity, incident, epoch)
        self._told = True

    def _apply(self, service: str, held: _Service, severity: str, incident: str, epoch: float) -> None:
        if not held.add(severity, incident, epoch):
            del self._services[service]  # out-of-order row: rebuilt from sqlite on next use
        elif held.oversized:
            del self._services[service]
            self._by_sql.add(service)

    @property
    def services_held(self) -> int:
        """Services whose windows are in memory (``/metrics``)."""
        return len(self._services)

    def reset(self) -> None:
        """Forget the cache (a rollback removed rows): rebuilt from sqlite on next use."""
        self._anchor, self._told = None, False
        self._services.clear()
        self._by_sql.clear()

    def __call__(self, service: str, at: datetime) -> dict[str, Any]:
        now = at.timestamp()
        if not self._told:
            self._catch_up()
        held = self._services.get(service)
        if held is None and service not in self._by_sql:
            held = self._load(service, now)
            if held.oversized:
                self._by_sql.add(service)
                held = None
            else:
                self._services[service] = held
        if held is not None and now >= held.latest:
            return held.facts(now)
        return self._query(service, now)

    def _catch_up(self) -> None:
        """Apply the rows added since the anchor, in one query that also re-reads the anchor row.

        If the anchor row is gone or changed, a rollback removed rows (their rowids may be reused):
        the cache is dropped and rebuilt from sqlite per service on next use.
        """
        anchor = self._anchor
        if anchor is None:  # first call
            self._services.clear()
            self._anchor = self.rows.newest() or _NO_ROW
            return
        rows = self.rows.since(anchor[0])
        if anchor[0] and (not rows or rows[0] != anchor):  # a rollback removed the anchor
            self._services.clear()
            self._anchor = rows[-1] if rows else self.rows.newest() or _NO_ROW
            return
        if len(rows) == (1 if anchor[0] else 0):
            return  # nothing new
        services = self._services
        for row in rows[1:] if anchor[0] else rows:
            _, service, severity, incident, epoch = row
            held = services.get(service)
            if held is not None and epoch is not None:
                self._apply(service, held, severity, incident, epoch)
        self._anchor = rows[-1]

    def _load(self, service: str, now: float) -> _Service:
        held = _Service()
        for severity, incident, epoch in self.rows.of_service(service, now - _SPAN):
            held.add(severity, incident, epoch)
        if held.last is None:  # the newest incident may be older than the longest window
            last = self.rows.last_incident(service, float("inf"))
            if last is not None:
                held.last = (last[0], last[1])
        return held

    def _query(self, service: str, now: float) -> dict[str, Any]:
        counts = self.rows.counts(service, now)
        out: dict[str, Any] = {name: int(n) for name, n in zip(_NAMES, counts, strict=True)}
        last = self.rows.last_incident(service, now)
        if last is not None:
            out["last_severity"] = last[0]
            out["seconds_since_last"] = round(now - last[1], 3)
        return out
