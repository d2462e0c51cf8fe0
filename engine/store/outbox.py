"""The outbox: actions requested, attempts started and made, one result per action; acks and resolves.

``actions``  idempotency_key (unique), action, kind, step, due_at, intent (JSON)
``starts``   action_id, attempt: an attempt began (written before the side effect)
``attempts`` action_id, attempt, ok, detail, reason, retryable, status, waited
``results``  action_id (unique), outcome, detail, reason, memo. Outcomes: ok | failed | not-configured |
             cancelled (ack/resolve stopped it) | superseded (an upgrade replaced a held page) |
             simulated (``rules simulate`` only, in memory)
``incident_updates``  event_id (unique), incident_id, type (ack | resolve | escalate), by, source, occurred_at
``vendor_refs``  (vendor, ref) unique → incident_id: a dedup key or alias a pager accepted, a pager's own
                 incident id seen in its webhook (origin says which); how a vendor's ack finds our incident

:class:`Outbox` is the outbox's half of :class:`engine.store.audit.Audit`, on the same connection.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Collection, Iterable
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from actions.base import Intent
from engine.store.json import to_json

_INTENT_FIELDS = tuple(f.name for f in fields(Intent))


def intent_dict(intent: Intent) -> dict[str, Any]:
    """The intent as stored in the outbox (a shallow copy: dataclasses.asdict deep-copies, slowly)."""
    return {name: getattr(intent, name) for name in _INTENT_FIELDS}

logger = logging.getLogger("escalation_handlers.daemon")

# The order due rows are sent in, as a person on call needs them: pages (step 0 and escalation steps) first,
# then upstream state changes (resolve, acknowledge), remediation, notifications (broadcasts), logs; within
# a kind by severity (CRITICAL = P0, MAJOR = P1, MODERATE = P2, NONE/other = P3); then due time, then id.
PRIORITY = ("CASE a.kind WHEN 'page' THEN 0 WHEN 'resolve' THEN 1 WHEN 'acknowledge' THEN 1 "
            "WHEN 'remediate' THEN 2 WHEN 'notify' THEN 3 ELSE 4 END, "
            "CASE json_extract(a.intent, '$.severity') WHEN 'CRITICAL' THEN 0 WHEN 'MAJOR' THEN 1 "
            "WHEN 'MODERATE' THEN 2 ELSE 3 END")


class Outbox:
    """Mixed into :class:`~engine.store.audit.Audit`: needs ``conn``, ``clock`` and ``_floor``."""

    conn: sqlite3.Connection
    clock: Callable[[], str]
    _floor: int

    if TYPE_CHECKING:  # provided by Audit
        def insert(self, table: str, rows: Iterable[dict[str, Any]]) -> list[int]: ...

    def request_actions(self, intents: Iterable[Intent], event_id: str, rules_hash: str,
                        due: Callable[[Intent], str] | None = None) -> list[int]:
        """Outbox rows; an idempotency key already present is not requested again."""
        ids = []
        now = self.clock()
        for intent in intents:
            cur = self.conn.execute(
                "INSERT OR IGNORE INTO actions (idempotency_key, event_id, incident_id, action, kind, step, due_at, "
                "intent, at, rules_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (intent.idempotency_key, event_id, intent.incident_id, intent.action, intent.kind, intent.step,
                 due(intent) if due else now, to_json(intent_dict(intent)), now, rules_hash))
            if cur.rowcount and cur.lastrowid is not None:
                ids.append(cur.lastrowid)
        return ids

    def record_start(self, action_id: int, attempt: int, rules_hash: str) -> None:
        """An attempt is about to send (its row in ``attempts`` follows when it finishes)."""
        self.conn.execute("INSERT INTO starts (action_id, attempt, at, rules_hash) VALUES (?, ?, ?, ?)",
                          (action_id, attempt, self.clock(), rules_hash))

    def record_attempt(self, action_id: int, attempt: Any, rules_hash: str) -> None:
        self.insert("attempts", [{"action_id": action_id, "attempt": attempt.number, "ok": int(attempt.ok),
                                  "detail": attempt.detail[:2000], "reason": attempt.reason,
                                  "retryable": int(attempt.retryable), "status": attempt.status,
                                  "waited": attempt.waited, "at": self.clock(), "rules_hash": rules_hash}])

    def record_result(self, action_id: int, outcome: str, detail: str, reason: str | None, rules_hash: str,
                      memo: dict[str, Any] | None = None) -> bool:
        """The final outcome of an action; False when one was already recorded (never twice)."""
        cur = self.conn.execute(
            "INSERT OR IGNORE INTO results (action_id, outcome, detail, reason, memo, at, rules_hash) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (action_id, outcome, detail[:2000], reason, to_json(memo) if memo else None, self.clock(), rules_hash))
        return bool(cur.rowcount)

    def memo(self, incident_id: str, action: str) -> dict[str, Any]:
        """State an adapter asked to keep for this incident (e.g. Slack's thread_ts)."""
        row = self.conn.execute(
            "SELECT r.memo FROM results r JOIN actions a ON a.id = r.action_id WHERE a.incident_id = ? "
            "AND a.action = ? AND r.memo IS NOT NULL ORDER BY r.id LIMIT 1", (incident_id, action)).fetchone()
        return json.loads(row[0]) if row else {}

    def record_incident_update(self, update: Any, rules_hash: str) -> bool:
        """An :class:`~engine.model.event.Acknowledgement` (ack or resolve); False when its event_id was seen."""
        cur = self.conn.execute(
            "INSERT OR IGNORE INTO incident_updates (event_id, incident_id, type, by, source, occurred_at, note, at, "
            "rules_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (update.event_id, update.incident_id, update.type, update.by, update.source,
             update.timestamp.isoformat(), update.note, self.clock(), rules_hash))
        return bool(cur.rowcount)

    def record_vendor_ref(self, vendor: str, ref: str, incident_id: str, origin: str) -> bool:
        """``ref`` (a dedup key, an alias, the pager's own incident id) names ``incident_id`` at ``vendor``."""
        cur = self.conn.execute(
            "INSERT OR IGNORE INTO vendor_refs (vendor, ref, incident_id, origin, at) VALUES (?, ?, ?, ?, ?)",
            (vendor, ref[:512], incident_id, origin, self.clock()))
        return bool(cur.rowcount)

    def record_rules_version(self, rules_hash: str, git_commit: str) -> None:
        """The rules were loaded from ``git_commit`` (once per pair)."""
        self.conn.execute("INSERT OR IGNORE INTO rules_versions (rules_hash, git_commit, at) VALUES (?, ?, ?)",
                          (rules_hash, git_commit, self.clock()))

    # -- readers ----------------------------------------------------------------------------
    def vendor_ref(self, vendor: str, ref: str) -> str | None:
        """Our incident id that ``vendor`` knows as ``ref``, else None."""
        row = self.conn.execute("SELECT incident_id FROM vendor_refs WHERE vendor = ? AND ref = ?",
                                (vendor, ref[:512])).fetchone()
        return row[0] if row else None

    def vendor_ref_from_results(self, vendor: str, ref: str) -> str | None:
        """Our incident id whose ``vendor`` page came back with memo ``vendor_ref`` == ``ref``, else None."""
        row = self.conn.execute(
            "SELECT a.incident_id FROM results r JOIN actions a ON a.id = r.action_id WHERE a.action = ? "
            "AND r.memo IS NOT NULL AND json_extract(r.memo, '$.vendor_ref') = ? LIMIT 1", (vendor, ref)).fetchone()
        return row[0] if row else None

    def has_incident(self, incident_id: str) -> bool:
        """An incident this log decided (an action requested for it, or a decision naming it)."""
        for sql in ("SELECT 1 FROM actions WHERE incident_id = ? LIMIT 1",
                    "SELECT 1 FROM decisions WHERE incident_id = ? LIMIT 1"):  # the second only when unknown
            if self.conn.execute(sql, (incident_id,)).fetchone() is not None:
                return True
        return False

    def incident_updates(self, incident_id: str) -> list[dict[str, Any]]:
        """Acks and resolves of one incident, in the order they were recorded."""
        rows = self.conn.execute("SELECT type, by, source, occurred_at, at FROM incident_updates "
                                 "WHERE incident_id = ? ORDER BY id", (incident_id,)).fetchall()
        return [dict(zip(("type", "by", "source", "occurred_at", "at"), r, strict=True)) for r in rows]

    def incident_updates_by_event(self, event_id: str) -> str | None:
        """The incident an ack/resolve (by its event_id) was recorded against, else None."""
        row = self.conn.execute("SELECT incident_id FROM incident_updates WHERE event_id = ?", (event_id,)).fetchone()
        return row[0] if row else None

    def update_since_request(self, action_id: int, *, resolves_only: bool = False) -> dict[str, Any] | None:
        """The first ack/resolve of the action's incident that stops it: one recorded at or after the action
        was requested, or any earlier resolve, or any earlier ack when the action is an escalation step
        (step > 0; an incident id is never reused, so an ack also holds for steps an upgrade requests later).
        ``resolves_only``: resolves alone (a channel notification still tells an acknowledged incident's news)."""
        row = self.conn.execute(
            "SELECT u.type, u.by, u.source, u.occurred_at, u.at FROM incident_updates u JOIN actions a "
            "ON a.incident_id = u.incident_id WHERE a.id = ? AND u.type IN ('ack', 'resolve') AND (u.at >= a.at "
            "OR u.type = 'resolve' OR (a.step > 0 AND a.idempotency_key NOT LIKE '%:escalate:%')) "
            + ("AND u.type = 'resolve' " if resolves_only else "")
            + "ORDER BY u.id LIMIT 1", (action_id,)).fetchone()
        return dict(zip(("type", "by", "source", "occurred_at", "at"), row, strict=True)) if row else None

    def paged(self, incident_id: str, outcomes: tuple[str, ...] = ("ok", "simulated")) -> dict[tuple[str, int], str]:
        """(action, step) → intent (JSON) of the incident's pages that may have gone out, one per pager and step:
        one with a result in ``outcomes``, or one whose attempt started (a trigger may have reached the vendor
        even when no success was recorded: killed mid-send, or accepted after our timeout)."""
        marks = ", ".join("?" for _ in outcomes)
        rows = self.conn.execute(
            "SELECT a.action, a.step, a.intent FROM actions a WHERE a.incident_id = ? AND a.kind = 'page' AND "
            f"(EXISTS (SELECT 1 FROM results r WHERE r.action_id = a.id AND r.outcome IN ({marks})) "
            "OR EXISTS (SELECT 1 FROM starts s WHERE s.action_id = a.id)) ORDER BY a.id",
            (incident_id, *outcomes)).fetchall()
        return {(action, int(step or 0)): intent for action, step, intent in rows}

    def pending_actions(self, now: str | None = None, limit: int = 1000, skip: Collection[int] = (),
                        exclude: Collection[str] = (), by_priority: bool = False) -> list[dict[str, Any]]:
        """Outbox rows with no result whose time has come: oldest first, or with ``by_priority`` (the
        daemon's sends) most urgent first (:data:`PRIORITY`), then oldest.

        Only ids from a low-water mark up are scanned: every action below it already has a result,
        and a result is never removed (append-only), so the scan does not grow with the log.
        ``skip``: ids the caller is not to be given now (retries in backoff, sends in flight);
        ``exclude``: actions (adapters) the caller cannot take now (every worker busy, circuit open).
        """
        now = now or self.clock()
        floor = self._pending_floor()
        rows = self.conn.execute(
            "SELECT a.id, a.idempotency_key, a.action, a.kind, a.step, a.due_at, a.intent, a.rules_hash, "
            "a.incident_id FROM actions a WHERE a.id >= ? AND a.due_at <= ? "
            "AND NOT EXISTS (SELECT 1 FROM results r WHERE r.action_id = a.id) "
            + ("AND a.id NOT IN (SELECT value FROM json_each(?)) " if skip else "")
            + ("AND a.action NOT IN (SELECT value FROM json_each(?)) " if exclude else "")
            + f"ORDER BY {PRIORITY + ', ' if by_priority else ''}a.due_at, a.id LIMIT ?",
            (floor, now, *([json.dumps(list(skip))] if skip else []),
             *([json.dumps(list(exclude))] if exclude else []), limit)).fetchall()
        keys = ("id", "idempotency_key", "action", "kind", "step", "due_at", "intent", "rules_hash", "incident_id")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def due_by_action(self, now: str | None = None) -> dict[str, tuple[int, str]]:
        """action → (due rows without a result, the oldest one's due time): the outbox's queue per adapter."""
        now = now or self.clock()
        rows = self.conn.execute(
            "SELECT a.action, count(*), min(a.due_at) FROM actions a WHERE a.id >= ? AND a.due_at <= ? "
            "AND NOT EXISTS (SELECT 1 FROM results r WHERE r.action_id = a.id) GROUP BY a.action",
            (self._pending_floor(), now)).fetchall()
        return {action: (int(n), oldest) for action, n, oldest in rows}

    def _pending_floor(self) -> int:
        first = self.conn.execute(
            "SELECT min(a.id) FROM actions a WHERE a.id >= ? "
            "AND NOT EXISTS (SELECT 1 FROM results r WHERE r.action_id = a.id)", (self._floor,)).fetchone()[0]
        if first is None:  # nothing pending: start after the newest action
            first = (self.conn.execute("SELECT max(id) FROM actions").fetchone()[0] or 0) + 1
        self._floor = first
        return first

    def supersede(self, action_id: int, detail: str, at: str, rules_hash: str) -> None:
        """A held request an upgrade replaced: its result is ``superseded`` (nothing was sent)."""
        self.conn.execute(
            "INSERT OR IGNORE INTO results (action_id, outcome, detail, reason, at, rules_hash) "
            "VALUES (?, 'superseded', ?, 'superseded', ?, ?)", (action_id, detail, at, rules_hash))

    def settle_in_flight(self) -> int:
        """Actions whose successful attempt was recorded but whose result was not (killed in
        between): record the result from that attempt rather than sending a second time."""
        rows = self.conn.execute(
            "SELECT a.id, a.rules_hash, t.attempt, t.detail FROM actions a JOIN attempts t ON t.action_id = a.id "
            "WHERE t.ok = 1 AND NOT EXISTS (SELECT 1 FROM results r WHERE r.action_id = a.id)").fetchall()
        for action_id, rules_hash, attempt, detail in rows:
            self.record_result(action_id, "ok", f"attempt {attempt} succeeded before a restart: {detail}",
                               None, rules_hash)
        if rows:
            logger.warning("in-flight actions settled from their recorded attempts",
                           extra={"event": "settled", "actions": len(rows)})
        return len(rows)

    def failed_pages(self, since: str) -> list[tuple[str, str, str]]:
        """(incident_id, action, detail) of every page whose result since ``since`` is ``failed``."""
        return self.conn.execute(
            "SELECT a.incident_id, a.action, r.detail FROM results r JOIN actions a ON a.id = r.action_id "
            "WHERE a.kind = 'page' AND r.outcome = 'failed' AND r.at >= ? ORDER BY r.id", (since,)).fetchall()

    def pagers_tried(self, incident_id: str, step: int) -> set[str]:
        """Pagers a page of this incident and step was requested through (first choice and fallbacks)."""
        return {row[0] for row in self.conn.execute(
            "SELECT action FROM actions WHERE incident_id = ? AND kind = 'page' AND step = ?", (incident_id, step))}

    def page_failures(self, incident_id: str, step: int) -> list[tuple[str, str]]:
        """(action, detail) of this incident's step's pages that ended failed or not-configured."""
        return self.conn.execute(
            "SELECT a.action, r.detail FROM actions a JOIN results r ON r.action_id = a.id WHERE a.incident_id = ? "
            "AND a.kind = 'page' AND a.step = ? AND r.outcome IN ('failed', 'not-configured') ORDER BY r.id",
            (incident_id, step)).fetchall()

    def not_configured_reasons(self) -> dict[str, str]:
        """action → the detail of one of its ``not-configured`` results (the variable it is missing)."""
        return dict(self.conn.execute(
            "SELECT a.action, r.detail FROM results r JOIN actions a ON a.id = r.action_id "
            "WHERE r.outcome = 'not-configured' GROUP BY a.action").fetchall())


def intent_from_json(text: str) -> Intent:
    """An outbox row's ``intent`` column back as an :class:`Intent`."""
    data = json.loads(text)
    data["targets"] = tuple(data.get("targets", ()))
    data["links"] = tuple(data.get("links", ()))
    return Intent(**data)
