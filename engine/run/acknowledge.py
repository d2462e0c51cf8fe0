"""What stops an escalation: an ack or resolve, recorded, and passed on to the upstream pagers.

The executor asks :func:`cancellation` before sending a page or a channel notification: an ack or
resolve recorded after the step was requested cancels a page, a resolve cancels a notification.
:func:`acknowledge` records an ack/resolve and requests ``acknowledge``/``resolve`` intents for the
upstream pagers that were paged.
"""

from __future__ import annotations

from dataclasses import replace

from engine.model.event import Acknowledgement
from engine.store.audit import Audit
from engine.store.outbox import intent_from_json

UPSTREAM = ("pagerduty", "opsgenie")  # pagers that keep their own alert state: ack and resolve it there


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
    return f"{verb} by {update['by']} at {update['occurred_at']}{via}"


def acknowledge(audit: Audit, ack: Acknowledgement, rules_hash: str) -> list[int]:
    """Record an ack/resolve; request the matching intent from each upstream pager that was paged.

    Skipped: a redelivered ack (same event_id), an ack after a resolve, and the pager the
    update came from (a PagerDuty webhook already reflects PagerDuty's state).
    """
    earlier = audit.incident_updates(ack.incident_id)
    if not audit.record_incident_update(ack, rules_hash):
        return []
    if ack.type == "ack" and any(u["type"] == "resolve" for u in earlier):
        return []
    kind = "acknowledge" if ack.type == "ack" else "resolve"
    intents = []
    for action, text in audit.paged(ack.incident_id).items():
        if action not in UPSTREAM or action == ack.source:
            continue
        page = intent_from_json(text)
        intents.append(replace(page, kind=kind, step=0, targets=(), event_id=ack.event_id,
                               rule_id=f"{ack.type}:{ack.source}", params={}))
    return audit.request_actions(intents, ack.event_id, rules_hash)
