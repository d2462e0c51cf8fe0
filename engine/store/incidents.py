"""Suppression state in the audit log: four append-only tables, read back on start.

``incidents``       one row per change of an incident (open, repeat, attach, upgrade, update,
                    fused, close) with its state after the change (JSON): the full state, or
                    for a repeat or attach that did not upgrade only the fields it changed
                    (``last_at``, ``repeats`` or ``members``, and the update fields when it sent
                    a group update; no ``incident_id``), with a full row at least every
                    ``engine.suppress.ports.FULL_EVERY`` rows; the current state is the newest full
                    row with the later partial rows applied over it. No row holds the fingerprints
                    (a 2,000-member group would rewrite its whole list 2,000 times):
``incident_members``  one row per fingerprint joining (``join``) or leaving (``leave``) an incident;
                    an open incident's fingerprints are its joins without a later leave (rows
                    written before this table existed kept them in ``state``, still read)
``suppressions``    one row per event the stage did not treat as a plain new incident:
                    outcome, mechanism (silence, maintenance, flap, dedup, inhibit,
                    persistence, group, fusion, resolve) and the human reason
``suppress_state``  per-fingerprint trackers (flap transitions, persistence streaks), written
                    when one changes: newest row per key wins
``fusion_signals``  every fusion signal and window close (signal | fused | expired | evicted);
                    the open windows are rebuilt by re-posting their signals
Rows are written inside the pipeline's transaction, so they commit with the decision.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable
from typing import Any

from engine.store.errors import translate_errors
from engine.store.json import to_json

PER_STEP_ALERTS = ("pagerduty", "opsgenie")  # each escalation step is its own alert there (actions.transport.step_key)


def fold_members(legacy: Iterable[str], rows: Iterable[tuple[str, str]]) -> list[str]:
    """Fingerprints in the order they joined, from ``(fingerprint, op)`` rows oldest first: joins without a later
    leave (``legacy``: those an old incident row listed itself, before membership rows existed)."""
    current = dict.fromkeys(legacy)
    for fp, op in rows:
        if op == "join":
            current.setdefault(fp)
        else:
            current.pop(fp, None)
    return list(current)


@translate_errors
class IncidentStore:
    """Writer/reader of the suppression tables on the audit log's connection (created by its migrations)."""

    def __init__(self, conn: sqlite3.Connection, rules_hash: str,
                 defer: Callable[[str, list[tuple[Any, ...]]], None] | None = None,
                 flush: Callable[[], None] | None = None, path: str = "") -> None:
        """``defer``/``flush``: the audit log's late writes (engine.store.audit.Audit); rows written through
        ``defer`` reach sqlite when the transaction commits, and the readers below ``flush`` first."""
        self.conn, self.path = conn, path
        self.rules_hash = rules_hash
        self._defer = defer or (lambda sql, rows: self.conn.executemany(sql, rows) and None)
        self._flush = flush or (lambda: None)

    def incident(self, incident_id: str, op: str, event_id: str, at: str, severity: str, reason: str,
                 state: dict[str, Any]) -> None:
        self._defer("INSERT INTO incidents (incident_id, op, event_id, at, severity, reason, state, rules_hash) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [(incident_id, op, event_id, at, severity, reason, to_json(state), self.rules_hash)])

    def member(self, incident_id: str, fingerprint: str, op: str, event_id: str, at: str) -> None:
        """``op``: ``join`` (the fingerprint is now part of the incident) or ``leave`` (it resolved)."""
        self._defer("INSERT INTO incident_members (incident_id, fingerprint, op, event_id, at) VALUES (?, ?, ?, ?, ?)",
                    [(incident_id, fingerprint, op, event_id, at)])

    def suppression(self, event_id: str, incident_id: str, outcome: str, mechanism: str, reason: str,
                    at: str) -> None:
        self._defer("INSERT INTO suppressions (event_id, incident_id, outcome, mechanism, reason, at, rules_hash)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [(event_id, incident_id, outcome, mechanism, reason, at, self.rules_hash)])

    def tracker(self, key: str, state: dict[str, Any], at: str) -> None:
        self._defer("INSERT INTO suppress_state (key, state, at) VALUES (?, ?, ?)", [(key, to_json(state), at)])

    def signal(self, sid: str, fusion_id: str, service: str, op: str, event_id: str, incident_id: str,
               kinds: str, doc: dict[str, Any] | None, at: float) -> None:
        self._defer("INSERT INTO fusion_signals (sid, fusion_id, service, op, event_id, incident_id, kinds, doc, "
                    "at, rules_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [(sid, fusion_id, service, op, event_id, incident_id, kinds, to_json(doc) if doc else None,
                      at, self.rules_hash)])

    # -- rebuild ---------------------------------------------------------------------------
    def open_incidents(self) -> list[dict[str, Any]]:
        """The state of every open incident, in the order of their newest rows."""
        self._flush()
        heads = self.conn.execute("SELECT incident_id FROM incidents WHERE id IN "
                                  "(SELECT max(id) FROM incidents GROUP BY incident_id) AND op != 'close' "
                                  "ORDER BY id").fetchall()
        states = [self.incident_state(incident_id) for (incident_id,) in heads]
        return [{**s, "fingerprints": self.members(s["incident_id"], s.get("fingerprints", ()))}
                for s in states if s.get("status") == "open"]

    def members(self, incident_id: str, legacy: Iterable[str] = ()) -> list[str]:
        """The incident's fingerprints in the order they joined: joins without a later leave."""
        self._flush()
        return fold_members(legacy, self.conn.execute("SELECT fingerprint, op FROM incident_members "
                                                      "WHERE incident_id = ? ORDER BY id", (incident_id,)))

    def incident_state(self, incident_id: str) -> dict[str, Any]:
        """The newest full row of an incident with the partial rows after it applied, oldest first."""
        self._flush()
        partial: list[dict[str, Any]] = []
        state: dict[str, Any] = {}
        rows = self.conn.execute("SELECT state FROM incidents WHERE incident_id = ? ORDER BY id DESC", (incident_id,))
        try:
            for (text,) in rows:
                row = json.loads(text)
                if "incident_id" in row:
                    state = row
                    break
                partial.append(row)  # only what a repeat or an attach changed
        finally:
            rows.close()
        for row in reversed(partial):
            state.update(row)
        return state

    def trackers(self) -> dict[str, dict[str, Any]]:
        self._flush()
        rows = self.conn.execute("SELECT key, state FROM suppress_state WHERE id IN "
                                 "(SELECT max(id) FROM suppress_state GROUP BY key)").fetchall()
        return {k: json.loads(s) for k, s in rows}

    def open_windows(self) -> list[dict[str, Any]]:
        """Signals of windows not yet closed (after each sid's last close row), oldest first."""
        self._flush()
        rows = self.conn.execute(
            "SELECT sid, fusion_id, service, event_id, incident_id, kinds, doc, at FROM fusion_signals f "
            "WHERE op = 'signal' AND id > coalesce((SELECT max(id) FROM fusion_signals c WHERE c.sid = f.sid "
            "AND c.op != 'signal'), 0) ORDER BY id").fetchall()
        keys = ("sid", "fusion_id", "service", "event_id", "incident_id", "kinds", "doc", "at")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def paged(self, incident_id: str) -> list[tuple[str, str, str, int, str]]:
        """(action, environment, level, step, routing_key_env) of the pages requested for an incident and not
        superseded: one per pager, and one per step for the pagers where each step is its own alert."""
        rows = self.conn.execute(
            "SELECT a.action, a.intent FROM actions a WHERE a.incident_id = ? AND a.kind = 'page' AND NOT EXISTS "
            "(SELECT 1 FROM results r WHERE r.action_id = a.id AND r.outcome = 'superseded') ORDER BY a.id",
            (incident_id,)).fetchall()
        out: dict[tuple[str, int], tuple[str, str, str, int, str]] = {}
        for action, intent in rows:
            doc = json.loads(intent)
            step = int(doc.get("step") or 0) if action in PER_STEP_ALERTS else 0
            key_env = str((doc.get("params") or {}).get("routing_key_env") or "")
            out.setdefault((action, step), (action, doc.get("environment", ""), doc.get("level", ""), step, key_env))
        return list(out.values())

    def pending(self, incident_id: str) -> list[tuple[int, str]]:
        """(action id, idempotency key) of requested actions for an incident with no result yet."""
        return self.conn.execute(
            "SELECT a.id, a.idempotency_key FROM actions a WHERE a.incident_id = ? AND a.kind IN ('page', 'notify') "
            "AND NOT EXISTS (SELECT 1 FROM results r WHERE r.action_id = a.id)", (incident_id,)).fetchall()

    def supersede(self, action_id: int, detail: str, at: str) -> None:
        """A held request an upgrade replaced: its result is ``superseded`` (nothing was sent)."""
        self.conn.execute(
            "INSERT OR IGNORE INTO results (action_id, outcome, detail, reason, at, rules_hash) "
            "VALUES (?, 'superseded', ?, 'superseded', ?, ?)", (action_id, detail, at, self.rules_hash))
