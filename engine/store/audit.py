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
``results``    action_id (unique), outcome (ok | failed | not-configured | cancelled | superseded), detail,
               reason (``simulated`` only in ``rules simulate``'s in-memory log; see engine.store.outbox)
``incident_updates``  event_id (unique), incident_id, type (ack | resolve), by, source, occurred_at:
               an ack or resolve stops the incident's pending escalation steps (engine.run.acknowledge)

The suppression stage's tables are engine.store.incidents'; every table and index is created by a named
migration (engine.store.migrations, recorded in ``migrations``).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from actions.base import Intent
from engine.model.clock import utcnow
from engine.model.errors import AuditError
from engine.model.firing import selected
from engine.store.errors import translate_errors
from engine.store.history import DecisionRows
from engine.store.incidents import IncidentStore
from engine.store.json import to_json
from engine.store.migrations import SCHEMA, WAL_CHECKPOINT_PAGES, migrate
from engine.store.outbox import Outbox, intent_dict

__all__ = ["SCHEMA", "WAL_CHECKPOINT_PAGES", "Audit", "binding_refs", "intent_dict", "to_json", "utcnow"]


def _model_columns(decision: Any) -> dict[str, Any]:
    """Decision columns for history (event time) and the model's verdict (engine.decide.classify)."""
    model = getattr(decision, "model", None) or {}
    ts = decision.event_doc.get("timestamp")
    epoch = datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() if isinstance(ts, str) else None
    return {"event_epoch": epoch, "model_version": model.get("version"), "model_label": model.get("label"),
            "model_confidence": model.get("confidence")}


_INSERTS: dict[tuple[str, tuple[str, ...]], str] = {}  # INSERT statements by table and columns
_EVENTS_SQL = ("INSERT INTO events (event_id, at, timestamp, source, service, environment, status, payload, "
               "rules_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
_DECISIONS_SQL = ("INSERT INTO decisions (event_id, incident_id, service, severity, confidence, owner, escalation, "
                  "remediation, notifications, fired_rules, problems, at, rules_hash, event_epoch, model_version, "
                  "model_label, model_confidence) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")


def binding_refs(stage: str) -> str:
    """A firing's bindings as references to this event's ``facts`` rows: repeating the facts' content
    per firing would multiply the log's size for no information. The compiler binds one fact per rule:
    a severity rule the event fact as ``m``, every later stage the severity fact as ``sev``
    (engine/compiler/compile.py; tests/store/test_audit.py checks these against the engine's own bindings)."""
    return '{"m":{"fact":"event"}}' if stage == "severity" else '{"sev":{"fact":"severity"}}'


@translate_errors
class Audit(Outbox):
    """Append-only writer/reader over one sqlite file (the outbox's half in :class:`Outbox`). One per thread."""

    def __init__(self, path: str | Path, clock: Callable[[], str] = utcnow,
                 template: sqlite3.Connection | None = None) -> None:
        """``template``: an already migrated (empty) in-memory log whose pages are copied instead of
        migrating (``engine.store.copy``: ``rules test`` opens one log per case)."""
        self.path = str(path)
        self.clock = clock
        self._floor = 0  # every action below this id has a result (see pending_actions)
        self._later: dict[str, list[tuple[Any, ...]]] = {}  # see defer
        self._changes_at_begin = -1  # total_changes at BEGIN (see commit)
        # (service, severity, incident_id, event_epoch) of the last decisions row (for engine.decide.history)
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
            if template is not None:
                template.backup(self.conn)
            else:
                migrate(self.db)
            self.ledger = _ledger(self)
        except (sqlite3.Error, OSError, ValueError) as exc:
            raise AuditError(f"cannot open audit log {self.path}: {exc}") from exc

    # -- transactions ---------------------------------------------------------------------
    @contextmanager
    def transaction(self, *, on_rollback: Callable[[], None] = lambda: None) -> Iterator[None]:
        """``BEGIN IMMEDIATE`` … ``COMMIT`` (deferred rows written at commit); on any exception the
        transaction is rolled back, ``on_rollback`` runs (an in-memory index re-synchronised with what
        was committed), and the exception goes on (a sqlite error as :class:`AuditError`)."""
        self.begin()
        try:
            yield
            self.commit()
        except BaseException as exc:
            self.rollback()
            on_rollback()
            if isinstance(exc, sqlite3.Error):
                raise AuditError(f"audit log {self.path}: {exc}") from exc
            raise

    @property
    def in_transaction(self) -> bool:
        return self.conn.in_transaction

    @property
    def changes(self) -> int:
        """Rows written through this connection so far (``/healthz``: did work commit rows?)."""
        return self.conn.total_changes

    def incident_store(self, rules_hash: str) -> IncidentStore:
        """The suppression tables on this connection, writing late through :meth:`defer` like the rest."""
        return IncidentStore(self.conn, rules_hash, defer=self.defer, flush=self.flush, path=self.path)

    def history_rows(self) -> DecisionRows:
        """The ``decisions`` rows history reads, on this connection (deferred rows flushed first)."""
        return DecisionRows(self.conn, before_read=self.flush, path=self.path)

    def probe_write(self) -> None:
        """Take the write lock and write nothing (the daemon's idle check that the log takes writes)."""
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.execute("ROLLBACK")

    def checkpoint(self) -> tuple[int, int, int]:
        """A passive WAL checkpoint: (frames in the WAL, frames checkpointed, page size). An automatic
        checkpoint that cannot write the database file fails silently; this one raises AuditError."""
        try:
            _, frames, done = self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            page = self.conn.execute("PRAGMA page_size").fetchone()[0]
        except sqlite3.Error as exc:
            raise AuditError(f"audit log {self.path}: WAL checkpoint failed: {exc}") from exc
        return int(frames), int(done), int(page)

    def begin(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        self._changes_at_begin = self.conn.total_changes

    def commit(self) -> None:
        self.flush()
        sealed = self.ledger is not None and self.conn.total_changes != self._changes_at_begin
        if sealed:
            # the transaction's ledger entry (engine/store/ledger.py), in the transaction; a transaction that
            # wrote nothing writes no entry (rows written outside one are sealed by the next that writes)
            self.ledger.seal()
        self.conn.execute("COMMIT")
        if sealed:
            self.ledger.committed()

    def rollback(self) -> None:
        self._later.clear()
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")
        if self.ledger is not None:
            self.ledger.discard()

    def defer(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        """Rows written by one ``executemany`` per statement when the transaction commits, in the
        order they came (intake, events, facts, firings, decisions). A reader of those tables inside
        the transaction calls :meth:`flush` first (``seen``, ``record_feedback``, engine.decide.history)."""
        if not self.conn.in_transaction:
            self.conn.executemany(sql, rows)
            if self.ledger is not None:
                self.ledger.capture.add(sql, rows)
            return
        self._later.setdefault(sql, []).extend(rows)

    def flush(self) -> None:
        """Write the deferred rows now (still inside the transaction)."""
        later, self._later = self._later, {}
        capture = self.ledger.capture if self.ledger is not None else None
        for sql, rows in later.items():
            self.conn.executemany(sql, rows)
            if capture is not None:  # hashed as inserted at seal, not read back (engine/store/ledger_capture.py)
                capture.add(sql, rows)

    def insert(self, table: str, rows: Iterable[dict[str, Any]]) -> list[int]:
        ids = []
        for row in rows:
            key = (table, tuple(row))
            sql = _INSERTS.get(key)
            if sql is None:
                sql = _INSERTS[key] = f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})"
            values = tuple(row.values())
            ids.append(int(self.conn.execute(sql, values).lastrowid or 0))
            if self.ledger is not None:
                self.ledger.capture.add(sql, [values])
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

    def count(self, table: str, where: str = "", params: tuple[Any, ...] = ()) -> int:
        sql = f"SELECT count(*) FROM {table}" + (f" WHERE {where}" if where else "")
        return int(self.conn.execute(sql, params).fetchone()[0])

    def close(self) -> None:
        if self.ledger is not None:
            with contextlib.suppress(sqlite3.Error):  # a log that cannot be written now: the next writer seals
                self.ledger.close()
        self.conn.close()


def _ledger(audit: Audit) -> Any:
    """The tamper-evident ledger on this log unless ``ESCALATION_LEDGER=off`` (or in memory)."""
    if audit.path == ":memory:":  # before the import: the ledger's Ed25519 signing loads cryptography
        return None
    from engine.store import ledger

    if not ledger.enabled():
        return None
    return ledger.Ledger(audit.conn, clock=lambda: audit.clock())
