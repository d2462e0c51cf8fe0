"""Grouping: events with the same ``group_by`` values join one incident; the first opens it, held for
``group_wait``, and group updates follow every ``group_interval`` (Alertmanager's grouping).

Last in the list: it always decides (join, or open a held incident).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.suppress.incidents import group_key, iso
from engine.suppress.verdict import ATTACH_FIELDS, Mechanism, Seen, Verdict

if TYPE_CHECKING:
    from engine.suppress.stage import SuppressionStage


def check(stage: SuppressionStage, seen: Seen) -> Verdict | None:
    g, p, now, fp = stage._grouping, stage.policy, seen.now, seen.fingerprint
    assert g is not None
    key = group_key(seen.doc, g.group_by)
    inc = stage.incidents.get(stage.by_group.get(key, ""))
    if inc is not None and now - inc.last_at > p.dedup_window and stage._dedup:
        stage._close(inc, seen.event.event_id, now, "group idle longer than the dedup window")
        inc = None
    if inc is not None:
        inc.fingerprints.append(fp)
        stage.by_fp[fp] = inc.incident_id
        inc.members += 1
        stage.store.member(inc.incident_id, fp, "join", seen.event.event_id, iso(now))
        return stage._join(inc, seen.event, seen.decision, now, "attached", "group",
                           f"member #{inc.members} of group {key} (incident {inc.incident_id})", ATTACH_FIELDS)
    return stage._open(seen.event, seen.decision, fp, seen.doc, now, key, g.group_wait)


GROUPING = Mechanism("group", lambda p: p.on("group") and p.grouping is not None, check)
