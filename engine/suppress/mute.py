"""Silences and maintenance windows: matchers × a time window mute an event (Alertmanager's silences).

Both are the same shape; silences are checked first, so a silenced event in a maintenance window is
reported as silenced.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.compiler.matchers import matches_all
from engine.suppress.verdict import Mechanism, Seen, Verdict

if TYPE_CHECKING:
    from engine.suppress.stage import SuppressionStage


def _mute(kind: str) -> Mechanism:
    def check(stage: SuppressionStage, seen: Seen) -> Verdict | None:
        when = seen.event.timestamp
        for mech, windows in stage._silences:
            if mech != kind:
                continue
            active = [s for s in windows if matches_all(s.matchers, seen.doc) and s.active(when)]
            if active:
                why = "; ".join(f"{s.id} by {s.author}: {s.reason}" for s in active)
                return Verdict("suppressed", mech, f"{mech} {why}")
        return None

    windows = {"silence": "silences", "maintenance": "maintenance"}[kind]
    return Mechanism(kind, lambda p: p.on(kind) and bool(getattr(p, windows)), check)


SILENCE = _mute("silence")
MAINTENANCE = _mute("maintenance")
