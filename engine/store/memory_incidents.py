"""The suppression stage's store (:class:`engine.suppress.ports.IncidentStore`) in dicts, for ``rules impact``.

:class:`MemoryIncidentStore` keeps what :class:`engine.store.incidents.IncidentStore` writes to its four
tables and answers the reads the same way (tests/review/test_impact_store.py runs both on one sequence):

* ``incidents``: per incident its current state (the newest full row with the later partial rows applied)
  and the op of its newest row, in the order of the newest rows;
* ``incident_members``: per incident its joins and leaves, replayed when read (a rebuild only);
* ``suppress_state``: the newest state per key; ``fusion_signals``: the signals of each window since its
  last close, in the order written; ``suppressions`` are counted only (nothing reads them back).

A state is copied when written (a shallow copy, its ``doc`` and the ``doc``'s ``labels`` too) and when read,
as sqlite's JSON text would be: what the stage changes later is not seen through the store. The pages
(``paged``, ``pending``, ``supersede``) are the outbox's: :class:`engine.store.replay_audit.ReplayAudit`.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from engine.store.incidents import fold_members
from engine.store.json import to_json

if TYPE_CHECKING:
    from engine.store.replay_audit import ReplayAudit


def _snapshot(state: dict[str, Any]) -> dict[str, Any]:
    out = dict(state)
    doc = out.get("doc")
    if isinstance(doc, dict):
        out["doc"] = doc = dict(doc)
        if isinstance(doc.get("labels"), dict):
            doc["labels"] = dict(doc["labels"])
    changes = out.get("changes")
    if isinstance(changes, list):
        out["changes"] = list(changes)
    return out


class MemoryIncidentStore:
    """The suppression tables' contents in memory; ``outbox`` answers the page reads (None: no pages)."""

    def __init__(self, rules_hash: str, outbox: ReplayAudit | None = None) -> None:
        self.rules_hash = rules_hash
        self.path = ":memory:"
        self.outbox = outbox
        self._states: dict[str, dict[str, Any]] = {}  # incident id → current state
        self._heads: dict[str, str] = {}  # incident id → op of its newest row, in the order of the newest rows
        self._members: dict[str, list[tuple[str, str]]] = {}  # incident id → [(fingerprint, join|leave)]
        self._trackers: dict[str, dict[str, Any]] = {}
        self._windows: dict[str, dict[int, dict[str, Any]]] = {}  # sid → {row number: signal row}
        self._rows = itertools.count(1)
        self.suppressions = 0

    def incident(self, incident_id: str, op: str, event_id: str, at: str, severity: str, reason: str,
                 state: dict[str, Any]) -> None:
        if "incident_id" in state or incident_id not in self._states:  # a full row, or the first one
            self._states[incident_id] = _snapshot(state)
        else:  # a partial row: only what a repeat or an attach changed
            self._states[incident_id].update(_snapshot(state))
        self._heads.pop(incident_id, None)
        self._heads[incident_id] = op

    def member(self, incident_id: str, fingerprint: str, op: str, event_id: str, at: str) -> None:
        self._members.setdefault(incident_id, []).append((fingerprint, op))

    def suppression(self, event_id: str, incident_id: str, outcome: str, mechanism: str, reason: str,
                    at: str) -> None:
        self.suppressions += 1

    def tracker(self, key: str, state: dict[str, Any], at: str) -> None:
        self._trackers.pop(key, None)
        self._trackers[key] = _snapshot(state)

    def signal(self, sid: str, fusion_id: str, service: str, op: str, event_id: str, incident_id: str,
               kinds: str, doc: dict[str, Any] | None, at: float) -> None:
        if op != "signal":  # the window closed (fused, expired, evicted): its signals are no longer open
            self._windows.pop(sid, None)
            return
        self._windows.setdefault(sid, {})[next(self._rows)] = {
            "sid": sid, "fusion_id": fusion_id, "service": service, "event_id": event_id,
            "incident_id": incident_id, "kinds": kinds, "doc": to_json(doc) if doc else None, "at": at}

    # -- rebuild ---------------------------------------------------------------------------
    def open_incidents(self) -> list[dict[str, Any]]:
        """The state of every open incident, in the order of their newest rows."""
        states = [self.incident_state(i) for i, op in self._heads.items() if op != "close"]
        return [{**s, "fingerprints": self.members(s["incident_id"], s.get("fingerprints", ()))}
                for s in states if s.get("status") == "open"]

    def members(self, incident_id: str, legacy: Iterable[str] = ()) -> list[str]:
        """The incident's fingerprints in the order they joined: joins without a later leave."""
        return fold_members(legacy, self._members.get(incident_id, ()))

    def incident_state(self, incident_id: str) -> dict[str, Any]:
        return copy.deepcopy(self._states.get(incident_id, {}))

    def trackers(self) -> dict[str, dict[str, Any]]:
        return {k: copy.deepcopy(s) for k, s in self._trackers.items()}

    def open_windows(self) -> list[dict[str, Any]]:
        """Signals of windows not yet closed, oldest first."""
        rows = sorted((n, row) for rows in self._windows.values() for n, row in rows.items())
        return [dict(row) for _, row in rows]

    # -- the outbox's ------------------------------------------------------------------------
    def paged(self, incident_id: str) -> list[tuple[str, str, str, int, str]]:
        return self.outbox.store_paged(incident_id) if self.outbox is not None else []

    def pending(self, incident_id: str) -> list[tuple[int, str]]:
        return self.outbox.store_pending(incident_id) if self.outbox is not None else []

    def supersede(self, action_id: int, detail: str, at: str) -> None:
        if self.outbox is not None:
            self.outbox.supersede(action_id, detail, at, self.rules_hash)
