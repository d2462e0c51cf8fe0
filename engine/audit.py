"""The audit log: one append-only sqlite file (WAL) that is the source of truth.

Every intake outcome, event, fact asserted, rule firing, decision, action requested, attempt
and action result is a row, each carrying the rules hash and the time. ``UPDATE`` and
``DELETE`` are refused by triggers. The engine is a cache: anything pending (an action
without a result) is found again here after a restart. Tables (see README "Audit log"):

``intake``     file, event_id, outcome (accepted | duplicate | failed), code, reason
``events``     event_id (unique: the idempotency key), service, status, payload (JSON)
``facts``      event_id, kind (event | severity), fact (JSON) as posted to the engine (the severity fact:
               ``level`` and the event fields the remediation rules read)
``firings``    event_id, seq, rule, stage, selected, bindings (JSON: alias → the ``facts`` row it bound)
``decisions``  event_id, incident_id, severity, confidence, owner, escalation, remediation,
               notifications, fired_rules (JSON), event_epoch (event time, for history),
               model_version ("unavailable: <reason>" without a model), model_label, model_confidence
``disagreements``  event_id, service, severity (rules), rule, model_label, model_confidence, model_version
``severity_feedback``  event_id, incident_id, severity an operator confirmed or corrected, by, note
``actions``    the outbox: idempotency_key (unique), action, kind, step, due_at, intent (JSON)
``starts``     action_id, attempt: an attempt began (written before the side effect)
``attempts``   action_id, attempt, ok, detail, reason, retryable, status, waited
``results``    action_id (unique), outcome (ok | failed | not-configured | cancelled), detail, reason
``incident_updates``  event_id (unique), incident_id, type (ack | resolve), by, source, occurred_at:
               an ack or resolve stops the incident's pending escalation steps (engine.escalation)
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import sqlite_utils

from actions.base import Intent
from engine.durable import selected
from engine.errors import AuditError

T, N, F = str, int, float
SCHEMA: dict[str, dict[str, type]] = {
    "intake": {"id": N, "at": T, "file": T, "event_id": T, "outcome": T, "code": T, "reason": T, "rules_hash": T},
    "events": {"event_id": T, "at": T, "timestamp": T, "source": T, "service": T, "environment": T, "status": T,
               "payload": T, "rules_hash": T},
    "facts": {"id": N, "event_id": T, "kind": T, "fact": T, "at": T, "rules_hash": T},
    "firings": {"id": N, "event_id": T, "seq": N, "rule": T, "stage": T, "selected": N, "bindings": T, "at": T,
                "rules_hash": T},
    "decisions": {"event_id": T, "incident_id": T, "service": T, "severity": T, "confidence": F, "owner": T,
                  "escalation": T, "remediation": T, "notifications": T, "fired_rules": T, "problems": T,
                  "at": T, "rules_hash": T, "event_epoch": F, "model_version": T, "model_label": T,
                  "model_confidence": F},
    "disagreements": {"id": N, "event_id": T, "service": T, "severity": T, "rule": T, "model_label": T,
                      "model_confidence": F, "model_version": T, "at": T, "rules_hash": T},
    "severity_feedback": {"id": N, "event_id": T, "incident_id": T, "severity": T, "previous": T, "by": T,
                          "note": T, "at": T},
    "actions": {"id": N, "idempotency_key": T, "event_id": T, "incident_id": T, "action": T, "kind": T,
                "step": N, "due_at": T, "intent": T, "at": T, "rules_hash": T},
    "starts": {"id": N, "action_id": N, "attempt": N, "at": T, "rules_hash": T},
    "attempts": {"id": N, "action_id": N, "attempt": N, "ok": N, "detail": T, "reason": T, "retryable": N,
                 "status": N, "waited": F, "at": T, "rules_hash": T},
    "results": {"id": N, "action_id": N, "outcome": T, "detail": T, "reason": T, "memo": T, "at": T,
                "rules_hash": T},
    "incident_updates": {"id": N, "event_id": T, "incident_id": T, "type": T, "by": T, "source": T,
                         "occurred_at": T, "note": T, "at": T, "rules_hash": T},
}
PKS = {"events": "event_id", "decisions": "event_id"}
UNIQUE = {"actions": ["idempotency_key"], "results": ["action_id"], "incident_updates": ["event_id"]}
INDEXES = {"firings": ["event_id"], "facts": ["event_id"], "actions": ["incident_id"], "attempts": ["action_id"],
           "starts": ["action_id"],
           "intake": ["event_id"], "incident_updates": ["incident_id"]}
# Created with IF NOT EXISTS on every open, so logs written before they existed get them too.
# (service, event_epoch) also serves lookups by service alone.
COMPOSITE_INDEXES = {"decisions": [("service", "event_epoch")], "severity_feedback": [("event_id",)],
                     "disagreements": [("event_id",)]}
# Indexes that others now cover: dropped on open (an index is not a row: the log loses nothing).
REDUNDANT_INDEXES = ("idx_decisions_service",)
# The WAL is checkpointed at sqlite's default, every 1,000 pages. Measured (benchmarks/): 4,000 pages cut
# the commit per decision from 29-31 to 23-24 µs at 100 per transaction, but each checkpoint then stalls
# the writer four times as long: arrival→commit p99 at 500 events/s went from 13 to 30 ms. Tail latency wins.
WAL_CHECKPOINT_PAGES = 1000


def utcnow() -> str:
    """Now, RFC 3339 UTC to the millisecond (formatted once per millisecond: several rows share it)."""
    ms = time.time_ns() // 1_000_000
    if ms != _last[0]:
        _last[:] = [ms, datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"]
    return str(_last[1])


_last: list[Any] = [0, ""]


def _model_columns(decision: Any) -> dict[str, Any]:
    """Decision columns for history (event time) and the model's verdict (engine.intelligence)."""
    model = getattr(decision, "model", None) or {}
    ts = decision.event_doc.get("timestamp")
    epoch = datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() if isinstance(ts, str) else None
    return {"event_epoch": epoch, "model_version": model.get("version"), "model_label": model.get("label"),
            "model_confidence": model.get("confidence")}


_INSERTS: dict[tuple[str, tuple[str, ...]], str] = {}  # INSERT statements by table and columns
_INTENT_FIELDS = tuple(f.name for f in fields(Intent))


def intent_dict(intent: Intent) -> dict[str, Any]:
    """The intent as stored in the outbox (a shallow copy: dataclasses.asdict deep-copies, slowly)."""
    return {name: getattr(intent, name) for name in _INTENT_FIELDS}


_EVENTS_SQL = ("INSERT INTO events (event_id, at, timestamp, source, service, environment, status, payload, "
               "rules_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
_DECISIONS_SQL = ("INSERT INTO decisions (event_id, incident_id, service, severity, confidence, owner, escalation, "
                  "remediation, notifications, fired_rules, problems, at, rules_hash, event_epoch, model_version, "
                  "model_label, model_confidence) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")


def binding_refs(stage: str) -> str:
    """A firing's bindings as references to this event's ``facts`` rows: repeating the facts' content
    per firing would multiply the log's size for no information. The compiler binds one fact per rule:
    a severity rule the event fact as ``m``, every later stage the severity fact as ``sev``
    (engine/compile.py; tests/core/test_audit.py checks these against the engine's own bindings)."""
    return '{"m":{"fact":"event"}}' if stage == "severity" else '{"sev":{"fact":"severity"}}'


_ORJSON_OPTS = orjson.OPT_NON_STR_KEYS


def to_json(value: Any) -> str:
    """Compact JSON as every audit table stores it (orjson: about 5× the stdlib encoder here).

    Anything JSON cannot express natively is written as ``str(value)``; non-finite floats as null.
    """
    try:
        return orjson.dumps(value, default=str, option=_ORJSON_OPTS).decode()
    except orjson.JSONEncodeError:  # e.g. an integer beyond 64 bits (a rule's template or params): the stdlib
        return json.dumps(_finite(value), default=str, separators=(",", ":"), ensure_ascii=False)


def _finite(value: Any) -> Any:
    """``value`` with non-finite floats as None (what orjson writes) and keys as JSON keys, for the stdlib."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k if isinstance(k, str | int | float | bool) or k is None else str(k): _finite(v)
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value



class Audit:
    """Append-only writer/reader over one sqlite file. One instance per thread."""

    def __init__(self, path: str | Path, clock: Callable[[], str] = utcnow) -> None:
        self.path = str(path)
        self.clock = clock
        self._floor = 0  # every action below this id has a result (see pending_actions)
        self._later: dict[str, list[tuple[Any, ...]]] = {}  # see defer
        # (service, severity, incident_id, event_epoch) of the last decisions row (for engine.history)
        self.last_decision: tuple[Any, ...] | None = None
        try:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self.db = sqlite_utils.Database(self.conn)
            if self.path != ":memory:":
                self.db.enable_wal()
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
            self.conn.execute("PRAGMA busy_timeout=5000")
            self._create()
        except (sqlite3.Error, OSError) as exc:
            raise AuditError(f"cannot open audit log {self.path}: {exc}") from exc

    def _create(self) -> None:
        for name, columns in SCHEMA.items():
            table = self.db.table(name)
            if table.exists():
                self._add_missing_columns(table, columns)
                self._composite_indexes(name)
                continue
            pk = PKS.get(name, "id")
            table.create(columns, pk=pk, not_null={pk} if pk != "id" else set())
            for cols in [UNIQUE[name]] if name in UNIQUE else []:
                table.create_index(cols, unique=True)
            for col in INDEXES.get(name, []):
                table.create_index([col])
            self._composite_indexes(name)
            for op in ("UPDATE", "DELETE"):
                self.conn.execute(
                    f"CREATE TRIGGER IF NOT EXISTS {name}_no_{op.lower()} BEFORE {op} ON {name} "
                    f"BEGIN SELECT RAISE(ABORT, 'audit log is append-only: {op} on {name} refused'); END"
                )
        for index in REDUNDANT_INDEXES:
            self.conn.execute(f"DROP INDEX IF EXISTS {index}")
        from engine.store.metrics_views import ensure_views  # the metric contract (README "SRE metrics")

        ensure_views(self.conn)

    def _add_missing_columns(self, table: Any, columns: dict[str, type]) -> None:
        # ADD COLUMN is not an UPDATE: the append-only triggers allow it; old rows read NULL.
        have = set(table.columns_dict)
        for col, kind in columns.items():
            if col not in have:
                table.add_column(col, kind)

    def _composite_indexes(self, name: str) -> None:
        for cols in COMPOSITE_INDEXES.get(name, []):
            self.conn.execute(f"CREATE INDEX IF NOT EXISTS idx_{name}_{'_'.join(cols)} ON {name} ({', '.join(cols)})")

    # -- transactions ---------------------------------------------------------------------
    def begin(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self.flush()
        self.conn.execute("COMMIT")

    def rollback(self) -> None:
        self._later.clear()
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")

    def defer(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        """Rows written by one ``executemany`` per statement when the transaction commits, in the
        order they came (intake, events, facts, firings, decisions). A reader of those tables inside
        the transaction calls :meth:`flush` first (``seen``, ``record_feedback``, engine.history)."""
        if not self.conn.in_transaction:
            self.conn.executemany(sql, rows)
            return
        self._later.setdefault(sql, []).extend(rows)

    def flush(self) -> None:
        """Write the deferred rows now (still inside the transaction)."""
        later, self._later = self._later, {}
        for sql, rows in later.items():
            self.conn.executemany(sql, rows)

    def insert(self, table: str, rows: Iterable[dict[str, Any]]) -> list[int]:
        ids = []
        for row in rows:
            key = (table, tuple(row))
            sql = _INSERTS.get(key)
            if sql is None:
                sql = _INSERTS[key] = f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})"
            ids.append(self.conn.execute(sql, tuple(row.values())).lastrowid)
        return ids

    # -- writers ----------------------------------------------------------------------------
    def record_intake(self, file: str, outcome: str, *, event_id: str = "", code: str = "", reason: str = "",
                      rules_hash: str = "") -> None:
        self.defer("INSERT INTO intake (at, file, event_id, outcome, code, reason, rules_hash) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)", [(self.clock(), file, event_id, outcome, code, reason, rules_hash)])

    def seen(self, event_id: str) -> bool:
        return event_id in self.seen_many([event_id])

    def seen_many(self, event_ids: list[str]) -> set[str]:
        """Which of these event ids were already decided (one query per 500 ids)."""
        self.flush()
        out: set[str] = set()
        for i in range(0, len(event_ids), 500):
            chunk = event_ids[i:i + 500]
            marks = ", ".join("?" * len(chunk))
            out.update(r[0] for r in self.conn.execute(f"SELECT event_id FROM events WHERE event_id IN ({marks})",
                                                       chunk))
        return out

    def record_decision(self, decision: Any, payload: dict[str, Any] | str, facts: list[tuple[str, dict[str, Any]]],
                        due: Callable[[Intent], str] | None = None) -> list[int]:
        """All rows for one decided event; the caller holds the transaction."""
        now, h, eid = self.clock(), decision.rules_hash, decision.event_id
        doc = decision.event_doc
        self.defer(_EVENTS_SQL, [(eid, now, doc.get("timestamp"), doc.get("source"), decision.service,
                                   doc.get("environment"), doc.get("status"),
                                   payload if isinstance(payload, str) else to_json(payload), h)])
        self.defer(
            "INSERT INTO facts (event_id, kind, fact, at, rules_hash) VALUES (?, ?, ?, ?, ?)",
            [(eid, kind, to_json(fact), now, h) for kind, fact in facts])
        self.defer(
            "INSERT INTO firings (event_id, seq, rule, stage, selected, bindings, at, rules_hash) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(eid, f.seq, f.meta.name, f.meta.stage, int(f.selected), binding_refs(f.meta.stage), now, h)
             for f in decision.firings])
        model = _model_columns(decision)
        self.defer(_DECISIONS_SQL, [(
            eid, decision.incident_id, decision.service, decision.severity, decision.confidence,
            to_json(decision.owner.as_dict()), to_json(decision.escalation), to_json(decision.remediation),
            to_json(decision.notifications), to_json(decision.fired_rules), to_json(decision.problems), now, h,
            model["event_epoch"], model["model_version"], model["model_label"], model["model_confidence"])])
        self.last_decision = (decision.service, decision.severity, decision.incident_id, model["event_epoch"])
        if getattr(decision, "disagrees", False):
            chosen = selected(decision.firings, "severity")
            rule = chosen.meta.name if chosen else ""
            self.insert("disagreements", [{
                "event_id": eid, "service": decision.service, "severity": decision.severity, "rule": rule,
                "model_label": decision.model["label"], "model_confidence": decision.model["confidence"],
                "model_version": decision.model_version, "at": now, "rules_hash": h}])
        return self.request_actions(decision.intents, eid, h, due)

    def record_feedback(self, event_id: str, severity: str, by: str, note: str = "") -> dict[str, Any]:
        """An operator confirms or corrects the severity of a decided event (append-only)."""
        self.flush()
        row = self.conn.execute("SELECT incident_id, severity FROM decisions WHERE event_id = ?",
                                (event_id,)).fetchone()
        if row is None:
            raise AuditError(f"no decision for event {event_id!r} in {self.path}")
        feedback = {"event_id": event_id, "incident_id": row[0], "severity": severity, "previous": row[1],
                    "by": by, "note": note, "at": self.clock()}
        self.insert("severity_feedback", [feedback])
        return feedback

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
            if cur.rowcount:
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
        """An :class:`~engine.event.Acknowledgement` (ack or resolve); False when its event_id was seen."""
        cur = self.conn.execute(
            "INSERT OR IGNORE INTO incident_updates (event_id, incident_id, type, by, source, occurred_at, note, at, "
            "rules_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (update.event_id, update.incident_id, update.type, update.by, update.source,
             update.timestamp.isoformat(), update.note, self.clock(), rules_hash))
        return bool(cur.rowcount)

    # -- readers ----------------------------------------------------------------------------
    def incident_updates(self, incident_id: str) -> list[dict[str, Any]]:
        """Acks and resolves of one incident, in the order they were recorded."""
        rows = self.conn.execute("SELECT type, by, source, occurred_at, at FROM incident_updates "
                                 "WHERE incident_id = ? ORDER BY id", (incident_id,)).fetchall()
        return [dict(zip(("type", "by", "source", "occurred_at", "at"), r, strict=True)) for r in rows]

    def update_since_request(self, action_id: int) -> dict[str, Any] | None:
        """The first ack/resolve of the action's incident that stops it: one recorded at or after the action
        was requested, or any earlier resolve, or any earlier ack when the action is an escalation step
        (step > 0; an incident id is never reused, so an ack also holds for steps an upgrade requests later)."""
        row = self.conn.execute(
            "SELECT u.type, u.by, u.source, u.occurred_at, u.at FROM incident_updates u JOIN actions a "
            "ON a.incident_id = u.incident_id WHERE a.id = ? AND (u.at >= a.at OR u.type = 'resolve' OR a.step > 0) "
            "ORDER BY u.id LIMIT 1", (action_id,)).fetchone()
        return dict(zip(("type", "by", "source", "occurred_at", "at"), row, strict=True)) if row else None

    def paged(self, incident_id: str, outcomes: tuple[str, ...] = ("ok", "simulated")) -> dict[str, str]:
        """action → intent (JSON) of the incident's latest page per pager that went out."""
        marks = ", ".join("?" for _ in outcomes)
        rows = self.conn.execute(
            "SELECT a.action, a.intent FROM actions a JOIN results r ON r.action_id = a.id WHERE a.incident_id = ? "
            f"AND a.kind = 'page' AND r.outcome IN ({marks}) ORDER BY a.id", (incident_id, *outcomes)).fetchall()
        return {action: intent for action, intent in rows}

    def pending_actions(self, now: str | None = None, limit: int = 1000,
                        skip: Collection[int] = ()) -> list[dict[str, Any]]:
        """Outbox rows with no result whose time has come, oldest first.

        Only ids from a low-water mark up are scanned: every action below it already has a result,
        and a result is never removed (append-only), so the scan does not grow with the log.
        """
        now = now or self.clock()
        floor = self._pending_floor()
        # skip: ids the caller is not to be given now (the daemon's retries still in backoff)
        rows = self.conn.execute(
            "SELECT a.id, a.idempotency_key, a.action, a.kind, a.step, a.due_at, a.intent, a.rules_hash "
            "FROM actions a WHERE a.id >= ? AND a.due_at <= ? "
            "AND NOT EXISTS (SELECT 1 FROM results r WHERE r.action_id = a.id) "
            + ("AND a.id NOT IN (SELECT value FROM json_each(?)) " if skip else "")
            + "ORDER BY a.due_at, a.id LIMIT ?",
            (floor, now, *([json.dumps(list(skip))] if skip else []), limit)).fetchall()
        keys = ("id", "idempotency_key", "action", "kind", "step", "due_at", "intent", "rules_hash")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def _pending_floor(self) -> int:
        first = self.conn.execute(
            "SELECT min(a.id) FROM actions a WHERE a.id >= ? "
            "AND NOT EXISTS (SELECT 1 FROM results r WHERE r.action_id = a.id)", (self._floor,)).fetchone()[0]
        if first is None:  # nothing pending: start after the newest action
            first = (self.conn.execute("SELECT max(id) FROM actions").fetchone()[0] or 0) + 1
        self._floor = first
        return first

    def count(self, table: str, where: str = "", params: tuple[Any, ...] = ()) -> int:
        sql = f"SELECT count(*) FROM {table}" + (f" WHERE {where}" if where else "")
        return int(self.conn.execute(sql, params).fetchone()[0])

    def close(self) -> None:
        self.conn.close()
