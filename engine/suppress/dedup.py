"""Deduplication: a repeat of an open incident's fingerprint joins it (no new page).

Always in the list: a repeat of an open incident is never a new incident. With ``dedup`` on, an incident
without a repeat for longer than ``dedup_window`` is closed first, and its next repeat opens a new one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.suppress.verdict import REPEAT_FIELDS, Mechanism, Seen, Verdict

if TYPE_CHECKING:
    from engine.suppress.stage import SuppressionStage


def check(stage: SuppressionStage, seen: Seen) -> Verdict | None:
    p, now, fp = stage.policy, seen.now, seen.fingerprint
    inc = stage.incidents.get(stage.by_fp.get(fp, ""))
    if inc is not None and stage._dedup and now - inc.last_at > p.dedup_window:
        stage._close(inc, seen.event.event_id, now, f"no repeat within the dedup window ({p.dedup_window:g}s)")
        inc = None
    if inc is None:
        return None
    inc.repeats += 1
    return stage._join(inc, seen.event, seen.decision, now, "repeat", "dedup",
                       f"repeat #{inc.repeats} of {fp} on open incident {inc.incident_id}", REPEAT_FIELDS)


DEDUP = Mechanism("dedup", lambda p: True, check)
