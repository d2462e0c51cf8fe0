"""The ``decisions`` rows ``history.*`` reads, held in Python lists (``rules impact``'s in-memory replay).

:class:`MemoryDecisionRows` answers the five reads of :class:`engine.decide.history.HistoryRows` exactly as
:class:`engine.store.history.DecisionRows` answers them from sqlite (the SQL is quoted per method), from
rows appended in rowid order. Per service the rows are kept sorted by ``(event_epoch, rowid)``, the
order of sqlite's ``(service, event_epoch)`` index, so a window is a slice found by bisection. A row
without an ``event_epoch`` (NULL) is counted by no read, as in SQL.
"""

from __future__ import annotations

import bisect
from typing import Any

from engine.model.history import COUNTED, WINDOWS

_SPAN = WINDOWS[-1][1]
_INF = float("inf")

Row = tuple[int, str, str, str, float | None]  # (rowid, service, severity, incident_id, event_epoch)


class MemoryDecisionRows:
    """``decisions`` rows (rowid, service, severity, incident_id, event_epoch) in memory, rowids from 1."""

    def __init__(self) -> None:
        self._rows: list[Row] = []
        # service → [(event_epoch, rowid, severity, incident_id)], sorted (rows with an epoch only)
        self._by_service: dict[str, list[tuple[float, int, str, str]]] = {}

    def append(self, service: str, severity: str, incident_id: str, epoch: float | None) -> Row:
        """One more row (the next rowid); returns it."""
        row: Row = (len(self._rows) + 1, service, severity, incident_id, epoch)
        self._rows.append(row)
        if epoch is not None:
            held = self._by_service.setdefault(service, [])
            entry = (epoch, row[0], severity, incident_id)
            if not held or held[-1] < entry:
                held.append(entry)
            else:
                bisect.insort(held, entry)
        return row

    def __len__(self) -> int:
        return len(self._rows)

    def newest(self) -> tuple[Any, ...] | None:
        """``ORDER BY rowid DESC LIMIT 1``."""
        return self._rows[-1] if self._rows else None

    def since(self, rowid: int) -> list[tuple[Any, ...]]:
        """``WHERE rowid >= ? ORDER BY rowid`` (rowids are 1..n: a slice)."""
        return list(self._rows[max(rowid, 1) - 1:])

    def of_service(self, service: str, after: float) -> list[tuple[str, str, float]]:
        """``WHERE service = ? AND event_epoch > ? ORDER BY event_epoch, rowid``."""
        held = self._by_service.get(service, [])
        start = bisect.bisect_right(held, (after, _INF))
        return [(sev, inc, epoch) for epoch, _, sev, inc in held[start:]]

    def last_incident(self, service: str, now: float) -> tuple[str, float] | None:
        """``WHERE service = ? AND event_epoch <= ? AND severity != 'NONE' ORDER BY event_epoch DESC, rowid DESC
        LIMIT 1``."""
        held = self._by_service.get(service, [])
        for i in range(bisect.bisect_right(held, (now, _INF)) - 1, -1, -1):
            epoch, _, sev, _ = held[i]
            if sev != "NONE":
                return sev, epoch
        return None

    def counts(self, service: str, now: float) -> tuple[int, ...]:
        """``COUNT(DISTINCT CASE WHEN severity = S AND event_epoch > now - W THEN incident_id END)`` per
        (window, severity) in ``WINDOWS`` × ``COUNTED`` order, over ``event_epoch`` in ``(now - span, now]``."""
        held = self._by_service.get(service, [])
        lo = bisect.bisect_right(held, (now - _SPAN, _INF))
        hi = bisect.bisect_right(held, (now, _INF))
        out = []
        for _, secs in WINDOWS:
            cutoff = now - secs
            for sev in COUNTED:
                out.append(len({inc for epoch, _, s, inc in held[lo:hi]
                                if s == sev and epoch > cutoff and inc is not None}))
        return tuple(out)
