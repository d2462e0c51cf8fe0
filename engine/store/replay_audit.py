"""The audit log a ``rules impact`` replay writes to, in Python structures instead of sqlite rows.

A replay decides every recorded event in the daemon's pipeline and keeps only each decision's summary;
what it writes to its audit log matters only where the pipeline, the suppression stage or an
acknowledgement reads it back. :class:`ReplayAudit` is that audit log without sqlite: it keeps

* the event ids decided (``seen_many``: duplicates) and the ``decisions`` rows ``history.*`` reads
  (:class:`~engine.store.memory_history.MemoryDecisionRows`), with the incidents they name (``has_incident``);
* the outbox's requested actions (INSERT OR IGNORE by idempotency key), their ``superseded`` results,
  the acks and resolves (``incident_updates``) and vendor refs: what ``acknowledge``, a resolve's
  upstream requests and the suppression stage's upgrades (``pending``/``supersede``) read;
* the suppression stage's state (:class:`~engine.store.memory_incidents.MemoryIncidentStore`).

Intake rows, facts, firings and disagreements are not kept: nothing in a replay reads them. A reader it
does not implement (a manual escalation's outbox SQL, the executor's queries) raises
:class:`ReplayUnsupported`, naming ``--store sqlite``, the reference. Rows become visible when the
pipeline's transaction commits, as the sqlite log's deferred rows do. There is no rollback: an
exception ends the replay (``rules impact`` reports it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NoReturn

from actions.base import Intent
from engine.model.errors import RulesError
from engine.store.audit import Audit
from engine.store.incidents import PER_STEP_ALERTS
from engine.store.json import to_json
from engine.store.memory_history import MemoryDecisionRows
from engine.store.memory_incidents import MemoryIncidentStore
from engine.store.outbox import intent_dict

_UPDATE_KEYS = ("type", "by", "source", "occurred_at", "at")


class ReplayUnsupported(RulesError):  # noqa: N818 - a user-facing refusal
    """The replay read its audit log in a way only the sqlite log answers."""


class _NoSql:
    """Where :class:`Audit` has its sqlite connection: any use is refused with the way out."""

    def __getattr__(self, name: str) -> NoReturn:
        raise ReplayUnsupported(
            "the in-memory replay log cannot answer this read (SQL on the outbox, e.g. a manual escalation "
            "in --events): run rules impact with --store sqlite")


@dataclass
class _Action:
    id: int
    key: str
    event_id: str
    incident_id: str
    action: str
    kind: str
    step: int
    intent: Intent  # its due time is not kept: only the executor and a manual escalation read it
    at: str


class _Rows:
    """The decisions rows as history reads them: the transaction's rows are added first (as DecisionRows
    flushes the deferred writes before it reads)."""

    def __init__(self, rows: MemoryDecisionRows, flush: Callable[[], None]) -> None:
        self.rows, self.flush = rows, flush

    def newest(self) -> tuple[Any, ...] | None:
        self.flush()
        return self.rows.newest()

    def since(self, rowid: int) -> list[tuple[Any, ...]]:
        self.flush()
        return self.rows.since(rowid)

    def of_service(self, service: str, after: float) -> list[tuple[str, str, float]]:
        self.flush()
        return self.rows.of_service(service, after)

    def last_incident(self, service: str, now: float) -> tuple[str, float] | None:
        self.flush()
        return self.rows.last_incident(service, now)

    def counts(self, service: str, now: float) -> tuple[int, ...]:
        self.flush()
        return self.rows.counts(service, now)


class ReplayAudit(Audit):
    """An :class:`Audit` whose rows live in Python structures (see the module docstring). One per replay."""

    def __init__(self, clock: Callable[[], str]) -> None:  # noqa: D107 - no sqlite: Audit.__init__ is not called
        self.path = ":memory:"
        self.clock = clock
        self.conn = _NoSql()  # type: ignore[assignment]
        self.ledger = None
        self.last_decision: tuple[Any, ...] | None = None
        self._floor = 0
        self.decisions = MemoryDecisionRows()
        self._pending: list[tuple[str, str, str, float | None]] = []  # the transaction's decisions rows
        self._events: set[str] = set()
        self._incidents: set[str] = set()  # named by a decisions row
        self._actions: list[_Action] = []  # id = index + 1
        self._keys: dict[str, int] = {}
        self._by_incident: dict[str, list[_Action]] = {}
        self._results: dict[int, tuple[str, dict[str, Any] | None]] = {}  # action id → (outcome, memo)
        self._updates: dict[str, dict[str, Any]] = {}  # event id → the incident_updates row
        self._updates_of: dict[str, list[dict[str, Any]]] = {}  # incident id → its rows, in order
        self._vendor_refs: dict[tuple[str, str], str] = {}
        self._in_transaction = False
        self.store: MemoryIncidentStore | None = None

    # -- transactions -------------------------------------------------------------------------
    @contextmanager
    def transaction(self, *, on_rollback: Callable[[], None] = lambda: None) -> Iterator[None]:
        self.begin()
        try:
            yield
            self.commit()
        except BaseException:
            self._in_transaction = False
            on_rollback()
            raise

    @property
    def in_transaction(self) -> bool:
        return self._in_transaction

    @property
    def changes(self) -> int:
        return len(self._actions) + len(self.decisions)

    def begin(self) -> None:
        self._in_transaction = True

    def commit(self) -> None:
        self.flush()
        self._in_transaction = False

    def rollback(self) -> None:
        raise ReplayUnsupported("the in-memory replay log cannot roll back: run rules impact with --store sqlite")

    def flush(self) -> None:
        later, self._pending = self._pending, []
        for service, severity, incident_id, epoch in later:
            self.decisions.append(service, severity, incident_id, epoch)
            self._incidents.add(incident_id)

    def incident_store(self, rules_hash: str) -> MemoryIncidentStore:  # type: ignore[override]
        self.store = MemoryIncidentStore(rules_hash, outbox=self)
        return self.store

    def history_rows(self) -> _Rows:  # type: ignore[override]
        return _Rows(self.decisions, self.flush)

    def close(self) -> None:
        pass

    # -- writers ------------------------------------------------------------------------------
    def record_intake(self, file: str, outcome: str, *, event_id: str = "", code: str = "", reason: str = "",
                      rules_hash: str = "") -> None:
        pass  # nothing in a replay reads the intake rows

    def record_rules_version(self, rules_hash: str, git_commit: str) -> None:
        pass

    def seen_many(self, event_ids: list[str]) -> set[str]:
        self.flush()
        return {e for e in event_ids if e in self._events}

    def record_decision(self, decision: Any, payload: dict[str, Any] | str, facts: list[tuple[str, dict[str, Any]]],
                        due: Callable[[Intent], str] | None = None) -> list[int]:
        """What the sqlite log's rows for a decision leave for later reads: its event id, its ``decisions``
        row (history, ``has_incident``) and its requested actions."""
        self._events.add(decision.event_id)
        ts = decision.event_doc.get("timestamp")
        epoch = datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() if isinstance(ts, str) else None
        self._pending.append((decision.service, decision.severity, decision.incident_id, epoch))
        self.last_decision = (decision.service, decision.severity, decision.incident_id, epoch)
        return self.request_actions(decision.intents, decision.event_id, decision.rules_hash, due)

    def request_actions(self, intents: Iterable[Intent], event_id: str, rules_hash: str,
                        due: Callable[[Intent], str] | None = None) -> list[int]:
        ids = []
        now = self.clock()
        for intent in intents:
            key = intent.idempotency_key
            if key in self._keys:
                continue
            row = _Action(len(self._actions) + 1, key, event_id, intent.incident_id, intent.action, intent.kind,
                          intent.step, intent, now)
            self._actions.append(row)
            self._keys[key] = row.id
            self._by_incident.setdefault(intent.incident_id, []).append(row)
            ids.append(row.id)
        return ids

    def supersede(self, action_id: int, detail: str, at: str, rules_hash: str) -> None:
        self._results.setdefault(action_id, ("superseded", None))

    def record_incident_update(self, update: Any, rules_hash: str) -> bool:
        if update.event_id in self._updates:
            return False
        row = {"event_id": update.event_id, "incident_id": update.incident_id, "type": update.type, "by": update.by,
               "source": update.source, "occurred_at": update.timestamp.isoformat(), "at": self.clock()}
        self._updates[update.event_id] = row
        self._updates_of.setdefault(update.incident_id, []).append(row)
        return True

    def record_vendor_ref(self, vendor: str, ref: str, incident_id: str, origin: str) -> bool:
        key = (vendor, ref[:512])
        if key in self._vendor_refs:
            return False
        self._vendor_refs[key] = incident_id
        return True

    # -- readers ------------------------------------------------------------------------------
    def vendor_ref(self, vendor: str, ref: str) -> str | None:
        return self._vendor_refs.get((vendor, ref[:512]))

    def vendor_ref_from_results(self, vendor: str, ref: str) -> str | None:
        for action_id, (_, memo) in self._results.items():
            row = self._actions[action_id - 1]
            if memo is not None and row.action == vendor and memo.get("vendor_ref") == ref:
                return row.incident_id
        return None

    def has_incident(self, incident_id: str) -> bool:
        return incident_id in self._by_incident or incident_id in self._incidents

    def incident_updates(self, incident_id: str) -> list[dict[str, Any]]:
        return [{k: u[k] for k in _UPDATE_KEYS} for u in self._updates_of.get(incident_id, ())]

    def incident_updates_by_event(self, event_id: str) -> str | None:
        row = self._updates.get(event_id)
        return row["incident_id"] if row else None

    def paged(self, incident_id: str, outcomes: tuple[str, ...] = ("ok", "simulated")) -> dict[tuple[str, int], str]:
        """Pages with a result in ``outcomes`` (no attempt ever starts in a replay)."""
        out = {}
        for a in self._by_incident.get(incident_id, ()):
            result = self._results.get(a.id)
            if a.kind == "page" and result is not None and result[0] in outcomes:
                out[(a.action, int(a.step or 0))] = to_json(intent_dict(a.intent))
        return out

    def store_paged(self, incident_id: str) -> list[tuple[str, str, str, int, str]]:
        """:meth:`engine.store.incidents.IncidentStore.paged`: pages requested and not superseded."""
        out: dict[tuple[str, int], tuple[str, str, str, int, str]] = {}
        for a in self._by_incident.get(incident_id, ()):
            if a.kind != "page" or self._results.get(a.id, ("",))[0] == "superseded":
                continue
            intent = a.intent  # what the sqlite store reads back from the intent column's JSON
            step = int(intent.step or 0) if a.action in PER_STEP_ALERTS else 0
            key_env = str((intent.params or {}).get("routing_key_env") or "")
            out.setdefault((a.action, step), (a.action, intent.environment, intent.level, step, key_env))
        return list(out.values())

    def store_pending(self, incident_id: str) -> list[tuple[int, str]]:
        """:meth:`engine.store.incidents.IncidentStore.pending`: pages and notifications with no result."""
        return [(a.id, a.key) for a in self._by_incident.get(incident_id, ())
                if a.kind in ("page", "notify") and a.id not in self._results]
