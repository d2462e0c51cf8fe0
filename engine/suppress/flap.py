"""Flap detection: a fingerprint that changes status too often is held down (no page) until it settles.

The tracker counts the status changes (``SuppressionStage._observe``); this mechanism mutes while the hold lasts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.suppress.incidents import iso
from engine.suppress.verdict import Mechanism, Seen, Verdict

if TYPE_CHECKING:
    from engine.suppress.stage import SuppressionStage


def check(stage: SuppressionStage, seen: Seen) -> Verdict | None:
    tracker = seen.tracker
    if tracker.hold_until > seen.now:
        return Verdict("suppressed", "flap", f"fingerprint {seen.fingerprint} is flapping ({len(tracker.changes)} "
                                             f"status changes); held down until {iso(tracker.hold_until)}")
    return None


FLAP = Mechanism("flap", lambda p: p.on("flap") and p.flap is not None, check)
