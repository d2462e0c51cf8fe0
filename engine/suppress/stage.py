"""The suppression stage: one decided event in, a :class:`Verdict` (what happens to it) out.

Runs in the pipeline after the decision and before it is recorded. Time is the event's
timestamp only (no wall clock), so tests drive it with a virtual clock. Checks for a firing
event, first hit wins: silence → maintenance → flap hold-down → dedup (repeat of an open
incident) → inhibition → persistence (``for:``) → fusion → grouping → new incident. A
resolved event closes the fingerprint's incident and requests ``resolve`` from the pagers
that were paged; one for an incident that never opened is recorded as ``resolved-unknown``.

Suppressed events keep their decision row but lose their intents; repeats and group members
carry the incident's id and page nobody (a group update goes to the channels only, at most
once per ``group_interval``/``repeat_interval``). A higher severity on an open incident
re-decides the event under that incident's id (an upgrade: the pager's dedup key is the
same). Pages of a held incident (``group_wait``, fusion ``hold``) are requested with
``due_at`` at the end of the hold; a completed fusion supersedes them.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Callable
from typing import Any

from actions.base import Intent
from engine.compiler.suppression import SuppressionPolicy
from engine.model.event import Event
from engine.model.policy import RANK
from engine.suppress.dedup import DEDUP
from engine.suppress.flap import FLAP
from engine.suppress.fuse import FUSION
from engine.suppress.fusion import FusionJoin
from engine.suppress.grouping import GROUPING
from engine.suppress.incidents import (
    Incident,
    Tracker,
    fingerprint,
    iso,
    matchable,
    resolve_intents,
)
from engine.suppress.inhibit import INHIBIT, InhibitSources
from engine.suppress.mute import MAINTENANCE, SILENCE
from engine.suppress.persistence import PERSISTENCE
from engine.suppress.ports import FULL_EVERY
from engine.suppress.ports import IncidentStore as Store
from engine.suppress.verdict import DECISION_KEYS, Mechanism, Seen, Verdict, with_note

UPDATE_FIELDS = ("updates", "notified_at", "update_due")  # when the repeat or attach also sends a group update

# The order of the mechanisms: the first one with a verdict decides the event.
MECHANISMS: tuple[Mechanism, ...] = (
    SILENCE, MAINTENANCE,  # mutes: matchers × a time window
    FLAP,                  # before dedup: a flapping fingerprint pages nobody, repeat or not
    DEDUP,                 # before inhibit: a repeat joins its own open incident
    INHIBIT, PERSISTENCE,
    FUSION,                # before grouping: a fused signal is not a group member
    GROUPING,              # last: the only one that opens a held incident
)


class SuppressionStage:
    """In-memory index over the sqlite tables; rebuilt from them on start (:meth:`reload`)."""

    def __init__(self, policy: SuppressionPolicy | None, store: Store, redecide: Callable[..., Any]) -> None:
        self.policy = policy or SuppressionPolicy()
        self.store = store
        self.redecide = redecide  # Decider.decide(event, incident_id=..., severity=...)
        self.fusion = FusionJoin(self.policy.fusion if self.policy.on("fusion") else ())
        p = self.policy  # the mechanisms switched on, resolved once
        mutes = (("silence", p.silences), ("maintenance", p.maintenance))
        self._silences = tuple((mech, windows) for mech, windows in mutes if p.on(mech) and windows)
        self._flap = p.flap if p.on("flap") else None
        self._dedup = p.on("dedup")
        self._inhibit = p.inhibit if p.on("inhibit") else ()
        self._persistence_rules = p.persistence if p.on("persistence") else ()
        self._grouping = p.grouping if p.on("group") else None
        self._fusion_reads_decision = any(path.split(".")[0] in DECISION_KEYS for path in self.fusion.paths)
        self.mechanisms = tuple(m for m in MECHANISMS if m.enabled(p))
        self.reload()

    def reload(self) -> None:
        """Rebuild the index from sqlite; re-post open fusion windows' signals with actions off."""
        self.incidents: dict[str, Incident] = {}
        self._rank: dict[str, int] = {}  # incident id → order of self.incidents (inhibit picks the first)
        self._ranks = itertools.count()
        self._sources = [InhibitSources(rule) for rule in self._inhibit]
        for state in self.store.open_incidents():
            self._add(Incident.from_state(state))
        self.by_fp = {fp: i.incident_id for i in self.incidents.values() for fp in i.fingerprints}
        self.by_group = {i.group_key: i.incident_id for i in self.incidents.values() if i.group_key}
        self.trackers = {k: Tracker(**v) for k, v in self.store.trackers().items()}
        for sid in list(self.fusion.windows):
            self.fusion.close(sid)
        self.fusion.replaying = True
        try:
            for row in self.store.open_windows():
                fusion = self.fusion.fusions.get(row["fusion_id"])
                if fusion is None:
                    continue
                window = self.fusion.windows.get(row["sid"])
                if window is None:
                    window, _ = self.fusion.open(fusion, row["service"], row["at"], row["incident_id"])
                window.kinds[row["event_id"]] = row["kinds"]
                self.fusion.post(fusion, row["sid"], json.loads(row["doc"]), row["event_id"])
        finally:
            self.fusion.replaying = False

    # -- entry point -------------------------------------------------------------------------
    def assess(self, event: Event, decision: Any) -> Verdict:
        now = event.timestamp.timestamp()
        self.sweep(now, event.event_id)
        fp = fingerprint(event, self.policy.fingerprint_fields)
        doc = matchable(event, decision.severity, fp)
        tracker = self.trackers.get(fp)
        if tracker is None:
            tracker = self.trackers[fp] = Tracker()
        before = tracker.snapshot()
        self._observe(tracker, event.status, now)
        verdict = (self._resolved(event, decision, fp, now, tracker) if event.status == "resolved"
                   else self._firing(event, decision, fp, doc, now, tracker))
        if tracker.snapshot() != before:  # one row when the tracker changed, none when it did not
            self.store.tracker(fp, tracker.state(), iso(now))
        if verdict.decision is None:  # suppressed: recorded, but nobody is paged or notified
            verdict.decision = decision
            decision.intents = []
        verdict.decision.incident_id = verdict.incident_id
        verdict.decision.suppression = verdict.as_dict()
        if verdict.outcome != "new":
            self.store.suppression(event.event_id, verdict.incident_id, verdict.outcome, verdict.mechanism,
                                   verdict.reason, iso(now))
        return verdict

    def sweep(self, now: float, event_id: str = "") -> None:
        """Close fusion windows whose end has passed: their half-matched signals leave durable-rules."""
        for w in self.fusion.expire(now):
            missing = ", ".join(w.missing(self.fusion.fusions[w.fusion_id]))
            self.store.signal(w.sid, w.fusion_id, w.service, "expired", event_id, w.incident_id,
                              f"missing {missing}", None, now)

    # -- firing ------------------------------------------------------------------------------
    def _firing(self, event: Event, decision: Any, fp: str, doc: dict[str, Any], now: float,
                tracker: Tracker) -> Verdict:
        seen = Seen(event, decision, fp, doc, now, tracker)
        for mechanism in self.mechanisms:  # MECHANISMS, those the policy switches on
            verdict = mechanism.check(self, seen)
            if verdict is not None:
                return verdict
        return self._open(event, decision, fp, doc, now, "", 0.0)

    def _live(self, inc: Incident, now: float) -> bool:
        """Still firing at ``now``: with dedup on, an incident idle longer than its window is over (its next
        repeat would open a new one), so it no longer inhibits anything (Alertmanager's resolve_timeout)."""
        return not self._dedup or now - inc.last_at <= self.policy.dedup_window

    def _open(self, event: Event, decision: Any, fp: str, doc: dict[str, Any], now: float, key: str,
              hold: float) -> Verdict:
        inc = Incident(event.event_id, event.service, decision.severity, doc, now, now, [fp], key,
                       hold_until=now + hold, notified_at=now + hold)
        self._add(inc)
        self.by_fp[fp] = inc.incident_id
        if key:
            self.by_group[key] = inc.incident_id
        self._save(inc, "open", event.event_id, now, f"opened by {fp}")
        self.store.member(inc.incident_id, fp, "join", event.event_id, iso(now))
        return Verdict("new", "", "", inc.incident_id, decision, iso(inc.hold_until) if hold else None, hold)

    def _join(self, inc: Incident, event: Event, decision: Any, now: float, outcome: str, mechanism: str,
              reason: str, changed: tuple[str, ...]) -> Verdict:
        """A repeat or group member: no page; an upgrade when it is more severe; maybe a group update.

        ``changed``: the incident's fields the caller changed, plus ``last_at`` (what its row carries)."""
        inc.last_at = max(inc.last_at, now)
        if RANK[decision.severity] > RANK[inc.severity]:
            return self._upgrade(inc, event, decision.severity, now, f"{reason}; severity {inc.severity} → "
                                 f"{decision.severity}")
        decision.intents = []
        verdict = Verdict(outcome, mechanism, reason, inc.incident_id, decision)
        g = self._grouping
        if g and now >= inc.hold_until and inc.update_due <= now:
            interval = g.group_interval if outcome == "attached" else g.repeat_interval
            if outcome == "attached" or now - inc.notified_at >= interval:
                due = max(now, inc.notified_at + interval)
                inc.updates += 1
                inc.notified_at = inc.update_due = due
                # the update speaks for the incident (its severity, its channels, how many alerts it holds);
                # the member's own decision keeps its own severity and firings
                again = self.redecide(event, incident_id=inc.incident_id, severity=inc.severity)
                note = f"update #{inc.updates}: {inc.members} alerts in incident {inc.incident_id}"
                decision.intents = [dataclasses.replace(i, step=inc.updates, message=with_note(i.message, note),
                                                        rule_id=f"suppression:update:{inc.updates}")
                                    for i in again.intents if i.kind == "notify"]
                decision.notifications = [{**n, "message": with_note(n["message"], note)} for n in again.notifications]
                decision.pending = None  # rendered already, by the re-decision
                verdict = Verdict(outcome, mechanism, f"{reason}; update #{inc.updates} due {iso(due)}",
                                  inc.incident_id, decision, iso(due), due - now)
                changed = (*changed, *UPDATE_FIELDS)
        self._save(inc, outcome, event.event_id, now, reason, changed)
        return verdict

    def _upgrade(self, inc: Incident, event: Event, severity: str, now: float, reason: str,
                 op: str = "upgrade") -> Verdict:
        again = self.redecide(event, incident_id=inc.incident_id, severity=severity)
        held = now < inc.hold_until and op != "fused"
        keys = {i.idempotency_key for i in again.intents}
        if held or op == "fused":  # not sent yet: the new request replaces the pending ones
            for action_id, key in self.store.pending(inc.incident_id):
                if key not in keys:
                    self.store.supersede(action_id, f"superseded by {op} to {severity} ({event.event_id})", iso(now))
        for sources in self._sources:
            sources.discard(inc)
        inc.severity = severity
        inc.doc = {**inc.doc, "severity": severity}
        for sources in self._sources:
            sources.add(inc, self._rank[inc.incident_id])
        self._save(inc, op, event.event_id, now, reason)
        outcome = "fused" if op == "fused" else "upgraded"
        return Verdict(outcome, "fusion" if op == "fused" else "", reason, inc.incident_id, again,
                       iso(inc.hold_until) if held else None, inc.hold_until - now if held else 0.0)

    # -- resolved ----------------------------------------------------------------------------
    def _resolved(self, event: Event, decision: Any, fp: str, now: float, tracker: Tracker) -> Verdict:
        # A resolve of an open incident is never held down by flap detection: the hold mutes pages, and a
        # swallowed resolve would leave the incident open, its escalation paging the backup for a cleared alert.
        inc = self.incidents.get(self.by_fp.get(fp, ""))
        if inc is not None and inc.members == 1 and now < inc.last_at:
            # delivered late: the fingerprint fired again after it (its only one), so it still fires
            return Verdict("suppressed", "resolve", f"stale resolve of {fp} ({iso(now)}): incident {inc.incident_id} "
                                                    f"fired again at {iso(inc.last_at)}; left open", inc.incident_id)
        tracker.streak, tracker.streak_since = 0, 0.0
        if inc is None and self._flap and tracker.hold_until > now:
            return Verdict("suppressed", "flap", f"fingerprint {fp} is flapping; held down until "
                                                 f"{iso(tracker.hold_until)}")
        if inc is None:
            return Verdict("resolved-unknown", "resolve", f"no open incident for {fp} (never opened or closed)")
        self.by_fp.pop(fp, None)
        inc.fingerprints = [f for f in inc.fingerprints if f != fp]
        self.store.member(inc.incident_id, fp, "leave", event.event_id, iso(now))
        if inc.fingerprints:
            self._save(inc, "member-resolved", event.event_id, now, f"{fp} resolved", ("last_at",))
            return Verdict("member-resolved", "resolve", f"{fp} resolved; incident {inc.incident_id} still has "
                                                         f"{len(inc.fingerprints)} firing", inc.incident_id)
        intents = self._close(inc, event.event_id, now, f"resolved by {event.source}")
        decision.intents = intents
        return Verdict("closed", "resolve", f"{fp} resolved: incident {inc.incident_id} closed", inc.incident_id,
                       decision)

    def close_incident(self, incident_id: str, event_id: str, now: float, reason: str) -> bool:
        """An operator's resolve (ack file, PagerDuty webhook): the incident is over, so the next firing
        of its fingerprints opens a new one and pages, instead of counting as a repeat of a resolved
        incident. The caller requests the upstream resolves (engine.decide.escalation.acknowledge)."""
        inc = self.incidents.get(incident_id)
        if inc is None:
            return False
        self._close(inc, event_id, now, reason)
        return True

    def _close(self, inc: Incident, event_id: str, now: float, reason: str) -> list[Intent]:
        inc.status = "closed"
        self.incidents.pop(inc.incident_id, None)
        self._rank.pop(inc.incident_id, None)
        for sources in self._sources:
            sources.discard(inc)
        for fp in inc.fingerprints:
            if self.by_fp.get(fp) == inc.incident_id:
                self.by_fp.pop(fp)
        if self.by_group.get(inc.group_key) == inc.incident_id:
            self.by_group.pop(inc.group_key)
        self._save(inc, "close", event_id, now, reason)
        return resolve_intents(inc, self.store.paged(inc.incident_id), event_id, reason)

    def _observe(self, tracker: Tracker, status: str, now: float) -> None:
        """Status changes for flap detection (:meth:`assess` writes the tracker if it changed)."""
        flap = self._flap
        if flap and tracker.last_status and tracker.last_status != status:
            tracker.changes = [t for t in tracker.changes if now - t <= flap.window] + [now]
            if len(tracker.changes) > flap.max_transitions and tracker.hold_until <= now:
                tracker.hold_until = now + flap.hold_down
        tracker.last_status = status

    def _add(self, inc: Incident) -> None:
        """A newly open (or reloaded) incident into the index, last in order."""
        self.incidents[inc.incident_id] = inc
        rank = self._rank[inc.incident_id] = next(self._ranks)
        for sources in self._sources:
            sources.add(inc, rank)

    def _save(self, inc: Incident, op: str, event_id: str, now: float, reason: str,
              changed: tuple[str, ...] = ()) -> None:
        """A row for the change. ``changed``: only these fields changed, and the row carries just them
        (a full row every FULL_EVERY repeats + members, so a rebuild reads a bounded number of rows)."""
        if changed and (inc.repeats + inc.members) % FULL_EVERY:
            state = {name: getattr(inc, name) for name in changed}
        else:
            state = inc.state()
        self.store.incident(inc.incident_id, op, event_id, iso(now), inc.severity, reason, state)
