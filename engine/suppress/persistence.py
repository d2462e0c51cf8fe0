"""Persistence: an event pages only once its condition has held for N consecutive events or S seconds.

The streak lives in the fingerprint's tracker (saved with it); a silence longer than the dedup window
ends the streak.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.compiler.matchers import matches_all
from engine.model.policy import RANK
from engine.suppress.incidents import Tracker
from engine.suppress.verdict import Mechanism, Seen, Verdict

if TYPE_CHECKING:
    from engine.suppress.stage import SuppressionStage


def held(stage: SuppressionStage, doc: dict[str, Any], sev: str, now: float, tracker: Tracker) -> str:
    """Why the event is held (its condition has not persisted long enough yet), or ""."""
    rule = next((r for r in stage._persistence_rules
                 if matches_all(r.match, doc) and RANK[sev] >= RANK[r.min_severity]
                 and (r.max_severity is None or RANK[sev] <= RANK[r.max_severity])), None)
    if rule is None:
        if tracker.streak:
            tracker.streak, tracker.streak_since, tracker.streak_last = 0, 0.0, 0.0
        return ""
    if tracker.streak and stage._dedup and now - tracker.streak_last > stage.policy.dedup_window:
        tracker.streak = 0  # silent longer than the dedup window: the condition stopped holding
    tracker.streak_since = tracker.streak_since if tracker.streak else now
    tracker.streak_last = max(tracker.streak_last, now) if tracker.streak else now
    tracker.streak += 1
    held_for = now - tracker.streak_since
    if (rule.seconds is not None and held_for >= rule.seconds) or (rule.events and tracker.streak >= rule.events):
        return ""
    need = [f"{tracker.streak} of {rule.events} consecutive events"] if rule.events else []
    need += [f"{held_for:g}s of {rule.seconds:g}s"] if rule.seconds is not None else []
    return f"{rule.id}: {sev} has held for {' / '.join(need)}"


def check(stage: SuppressionStage, seen: Seen) -> Verdict | None:
    reason = held(stage, seen.doc, seen.decision.severity, seen.now, seen.tracker)
    return Verdict("suppressed", "persistence", reason) if reason else None


PERSISTENCE = Mechanism("persistence", lambda p: p.on("persistence") and bool(p.persistence), check)
