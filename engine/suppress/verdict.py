"""What the suppression stage says about one event: its outcome, the mechanism, and the decision it kept."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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
