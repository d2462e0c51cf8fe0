"""What stops an escalation: an ack or resolve, matched to our incident, recorded, and passed on upstream.

The executor asks :func:`cancellation` before sending a page or a channel notification: an ack or
resolve recorded after the step was requested cancels a page, a resolve cancels a notification.
:func:`acknowledge` finds our incident (:func:`match`), records the ack/resolve and requests
``acknowledge``/``resolve`` intents for every upstream alert that was paged (one per pager and step:
each step is its own PagerDuty/Opsgenie alert).

:func:`match` maps what a vendor sends back to our incident, in order: the id as given (our incident
id, the step-0 dedup key/alias); the same without a ``.step-<n>`` suffix (a later step's key); a ref a
pager returned when it accepted a page (``results.memo.vendor_ref``: PagerDuty's ``dedup_key``,
Opsgenie's alias); a ref recorded from an earlier webhook (``vendor_refs``: PagerDuty's own incident
id, e.g. ``PQ1K5C8``, seen next to a dedup key). Every ref of a matched ack is recorded, so a later
webhook naming only PagerDuty's id finds the incident too. An ack that matches nothing is refused
(:class:`Unmatched`): the caller records, counts and logs it.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from actions.transport import STEP_SUFFIX
from engine.model.clock import normalized
from engine.model.event import Acknowledgement
from engine.store.audit import Audit
from engine.store.outbox import intent_from_json

UPSTREAM = ("pagerduty", "opsgenie")  # pagers that keep their own alert state: ack and resolve it there
logger = logging.getLogger("escalation_handlers.acknowledge")


class Unmatched(Exception):  # noqa: N818 - an outcome, not a bug
    """An ack or resolve that names no incident of this audit log."""

    code = "unmatched-ack"  # the intake code it is recorded and counted under


def cancellation(audit: Audit, action_id: int, kind: str) -> str | None:
    """Why this outbox row must not be sent, else None: a page once its incident was acknowledged or
    resolved; a channel notification (a group update due a ``group_interval`` later) once it was
    resolved — "CRITICAL: payment-api down" minutes after "RESOLVED" would say the opposite of the truth."""
    if kind not in ("page", "notify"):
        return None
    update = audit.update_since_request(action_id, resolves_only=kind == "notify")
    if update is None:
        return None
    verb = "acknowledged" if update["type"] == "ack" else "resolved"
    via = f" via {update['source']}" if update["source"] not in ("", "manual") else ""
    return f"{verb} by {update['by']} at {normalized(str(update['occurred_at']))}{via}"



def match(audit: Audit, ack: Acknowledgement) -> str | None:
    """Our incident id for ``ack`` (see the module docstring), else None."""
    for ref in (ack.incident_id, *ack.refs):
        base = ref.rsplit(STEP_SUFFIX, 1)[0] if STEP_SUFFIX in ref else ref
        for candidate in dict.fromkeys((ref, base)):
            if audit.has_incident(candidate):
                return candidate
        found = audit.vendor_ref_from_results(ack.source, ref) or audit.vendor_ref(ack.source, ref)
        if found:
            return found
    return None


def acknowledge(audit: Audit, ack: Acknowledgement, rules_hash: str, *, strict: bool = False) -> list[int]:
    """Record an ack/resolve; request the matching intent for each upstream alert that was paged.

    ``strict``: an ack that matches no incident raises :class:`Unmatched` (vendor webhooks, operator
    commands, ack files); the pipeline's own resolve of an incident it just closed is not strict.
    Skipped: a redelivered ack (same event_id), an ack after a resolve, and the pager the update came
    from (a PagerDuty webhook already reflects PagerDuty's state).
    """
    if ack.type == "escalate":  # an operator pages the next step now (engine.run.escalate)
        from engine.run.escalate import escalate

        return escalate(audit, ack, rules_hash)
    original = ack.incident_id
    incident = match(audit, ack)
    if incident is None:
        if strict:
            refs = ", ".join((ack.incident_id, *ack.refs))
            raise Unmatched(f"{ack.type} from {ack.source} by {ack.by} names no incident here ({refs})")
        incident = ack.incident_id
    if incident != ack.incident_id or ack.refs:
        for ref in {ack.incident_id, *ack.refs} - {incident}:
            audit.record_vendor_ref(ack.source, ref, incident, f"{ack.type}:{ack.event_id}")
        ack = ack.model_copy(update={"incident_id": incident})
    earlier = audit.incident_updates(ack.incident_id)
    if not audit.record_incident_update(ack, rules_hash):
        return []
    if ack.type == "ack" and any(u["type"] == "resolve" for u in earlier):
        return []
    kind = "acknowledge" if ack.type == "ack" else "resolve"
    named = _steps(incident, (original, *ack.refs))  # the vendor's alert(s) this came from: already in that state
    intents = []
    for (action, step), text in audit.paged(ack.incident_id).items():
        if action not in UPSTREAM or (action == ack.source and (not named or step in named)):
            continue
        page = intent_from_json(text)  # keeps its step (the alert's key) and params (its routing key)
        intents.append(replace(page, kind=kind, targets=(), event_id=ack.event_id,
                               rule_id=f"{ack.type}:{ack.source}",
                               params={k: v for k, v in page.params.items() if k == "routing_key_env"}))
    return audit.request_actions(intents, ack.event_id, rules_hash)


def _steps(incident: str, refs: tuple[str, ...]) -> set[int]:
    """The escalation steps whose alert keys are among ``refs`` (``<incident>`` is step 0)."""
    out = set()
    for ref in refs:
        if ref == incident:
            out.add(0)
        elif ref.startswith(incident + STEP_SUFFIX) and ref[len(incident) + len(STEP_SUFFIX):].isdigit():
            out.add(int(ref[len(incident) + len(STEP_SUFFIX):]))
    return out
