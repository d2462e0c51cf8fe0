"""A manual escalation: an operator pages the next escalation step now instead of waiting for its timeout.

``rules escalate INC --by alice [--to STEP] [--reason TEXT]`` arrives like an ack (the pipeline, or a
running daemon's spool) as an :class:`~engine.model.event.Acknowledgement` of type ``escalate``.
:func:`escalate` matches the incident, records the update (``incident_updates`` type ``escalate``, the
reason as its note) and makes the step's pages due now (:mod:`engine.store.escalations`): a page
scheduled for later is superseded by a copy due now; one already due is left to go; one that already
went out (or was stopped by an ack) is sent again. The executor sends them like any page; an ack
recorded before the escalation does not stop them (a person asked for help after acknowledging).

The step is ``--to STEP`` or, by default, the first step after the highest one whose time has come (sent,
being sent, due, failed or stopped).
"""

from __future__ import annotations

from engine.model.event import Acknowledgement
from engine.run.acknowledge import Unmatched, match
from engine.store import escalations
from engine.store.audit import Audit


class CannotEscalate(Unmatched):
    """The incident exists but cannot be escalated (resolved, no such step, nothing left to page)."""

    code = "cannot-escalate"


def escalate(audit: Audit, update: Acknowledgement, rules_hash: str) -> list[int]:
    """Record the escalation and request its pages; the ids of the pages requested ([] for a redelivery)."""
    incident = match(audit, update)
    if incident is None:
        raise Unmatched(f"escalate from {update.source} by {update.by} names no incident here ({update.incident_id})")
    if any(u["type"] == "resolve" for u in audit.incident_updates(incident)):
        raise CannotEscalate(f"{incident} is resolved: nothing to escalate")
    rows = escalations.page_rows(audit, incident)
    steps = sorted({int(r["step"] or 0) for r in rows})
    if not steps:
        raise CannotEscalate(f"{incident} has no escalation steps (nobody was to be paged)")
    now = audit.clock()
    reached = {int(r["step"] or 0) for r in rows if r["outcome"] is not None or r["started"] or r["due_at"] <= now}
    if update.step is not None:
        step = update.step
        if step not in steps:
            raise CannotEscalate(f"{incident} has no step {step} (steps {', '.join(map(str, steps))})")
    else:
        later = [s for s in steps if s > max(reached, default=-1)]
        if not later:
            waiting = sorted({int(r["step"] or 0) for r in rows if r["outcome"] is None and not r["started"]})
            unsent = (f" (step {', '.join(map(str, waiting))} due but not sent yet: the running daemon or the next "
                      "rules run pages it)") if waiting else ""
            raise CannotEscalate(f"{incident}: every step ({', '.join(map(str, steps))}) is due already{unsent}; "
                                 "pass --to STEP to page one again")
        step = later[0]
    update = update.model_copy(update={"incident_id": incident})
    if not audit.record_incident_update(update, rules_hash):
        return []  # the same escalation delivered twice
    why = f"escalated by {update.by}" + (f" ({update.note})" if update.note else "")
    ids = []
    for r in rows:
        if int(r["step"] or 0) != step or r["outcome"] == "superseded":  # replaced: its replacement is a row too
            continue
        pending = r["outcome"] is None
        if pending and (r["started"] or r["due_at"] <= now):
            continue  # being sent, or due already: the executor sends it now anyway
        ids.append(escalations.page_now(audit, r, update.event_id, rules_hash, superseded=pending, why=why))
    return [i for i in ids if i]
