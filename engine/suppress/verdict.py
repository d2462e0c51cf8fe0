"""What the suppression stage says about one event: its outcome, the mechanism, and the decision it kept."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.model.event import Event
from engine.suppress.incidents import Tracker

if TYPE_CHECKING:
    from engine.compiler.suppression import SuppressionPolicy
    from engine.suppress.stage import SuppressionStage

# What a plain repeat or attach changes on its incident: its row carries only these (engine.store.incidents).
REPEAT_FIELDS = ("last_at", "repeats")
ATTACH_FIELDS = ("last_at", "members")  # the fingerprint joins in incident_members

# Keys Decider.decide adds to event_document(event) in decision.event_doc (fusion sees the event alone).
DECISION_KEYS = frozenset({"model", "history"})


@dataclass
class Verdict:
    outcome: str  # new | repeat | attached | upgraded | fused | held | suppressed | closed |
    # member-resolved | resolved-unknown
    mechanism: str = ""  # silence | maintenance | flap | dedup | inhibit | persistence | fusion | group | resolve
    reason: str = ""
    incident_id: str = ""
    decision: Any = None
    due_at: str | None = None  # event clock: when the held pages / the group update are due (for the reason)
    delay: float = 0.0  # the same, as seconds after the event: the outbox times it from intake (pipeline)

    def as_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "mechanism": self.mechanism, "reason": self.reason,
                "incident_id": self.incident_id}


def event_doc(decision: Any) -> dict[str, Any]:
    """``event_document(event)``, taken from the decision's copy instead of serialising the event again."""
    return {k: v for k, v in decision.event_doc.items() if k not in DECISION_KEYS}


def with_note(message: Any, note: str) -> Any:
    """A group update's message with ``note`` after its headline fields (text, title, subject, summary)."""
    if not isinstance(message, dict):
        return message
    return {k: f"{v} ({note})" if k in _HEADLINES and isinstance(v, str) else v for k, v in message.items()}


_HEADLINES = frozenset({"text", "title", "subject", "summary", "message"})


@dataclass(frozen=True, slots=True)
class Seen:
    """One firing event as every mechanism sees it."""

    event: Event
    decision: Any
    fingerprint: str
    doc: dict[str, Any]  # the matchable document (event fields + severity + fingerprint)
    now: float  # the event clock
    tracker: Tracker


@dataclass(frozen=True, slots=True)
class Mechanism:
    """One suppression mechanism: its name (the YAML key's ``on`` switch and the audit ``mechanism``), whether
    a policy turns it on, and its check: a verdict when the mechanism decides the event, else None."""

    name: str
    enabled: Callable[[SuppressionPolicy], bool]
    check: Callable[[SuppressionStage, Seen], Verdict | None]
