"""Fusion as a mechanism: a signal of a fusion opens (or joins) its service's window; the join completing
upgrades the window's incident to the fusion's severity. The windows and the engine join are
:mod:`engine.suppress.fusion`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.compiler.suppression import Fusion
from engine.model.event import Event
from engine.model.policy import RANK
from engine.suppress.incidents import iso
from engine.suppress.verdict import ATTACH_FIELDS, Mechanism, Seen, Verdict, event_doc

if TYPE_CHECKING:
    from engine.suppress.stage import SuppressionStage


def check(stage: SuppressionStage, seen: Seen) -> Verdict | None:
    decision, sev = seen.decision, seen.decision.severity
    # the conditions read only their own paths: without model.*/history.* ones, the decision's document
    # gives the same kinds as the event's, and the copy is made only for a signal
    doc = event_doc(decision) if stage._fusion_reads_decision else decision.event_doc
    for fusion in stage.fusion.fusions.values():
        kinds = stage.fusion.kinds(fusion, doc)
        if kinds and RANK[sev] < RANK[fusion.severity]:
            return fuse(stage, fusion, kinds, seen.event, event_doc(decision), decision, seen.fingerprint, seen.doc,
                        seen.now)
    return None


def fuse(stage: SuppressionStage, fusion: Fusion, kinds: list[str], event: Event, signal: dict[str, Any],
     decision: Any, fp: str, doc: dict[str, Any], now: float) -> Verdict:
    """``signal``: the event's document (what the fusion conditions see); ``doc``: its matchable form."""
    sid = stage.fusion.sid(fusion, event.service)
    window = stage.fusion.windows.get(sid)
    if window is not None and window.incident_id not in stage.incidents:  # its incident closed meanwhile
        stage.fusion.close(sid)
        stage.store.signal(sid, fusion.id, event.service, "closed", event.event_id, window.incident_id,
                          "incident closed", None, now)
        window = None
    verdict: Verdict
    if window is None:
        opened = stage._open(event, decision, fp, doc, now, "", fusion.hold)
        window, evicted = stage.fusion.open(fusion, event.service, now, opened.incident_id)
        if evicted:
            stage.store.signal(evicted.sid, fusion.id, evicted.service, "evicted", event.event_id,
                              evicted.incident_id, "max_windows reached", None, now)
        opened.outcome, opened.mechanism = "held", ""
        held = f"pages held until {opened.due_at}" if opened.due_at else "pages not held (hold 0s)"
        opened.reason = f"fusion {fusion.id}: first signal ({', '.join(kinds)}); {held}"
        verdict = opened
    else:
        inc = stage.incidents[window.incident_id]
        inc.fingerprints.append(fp)
        stage.by_fp[fp] = inc.incident_id
        inc.members += 1
        stage.store.member(inc.incident_id, fp, "join", event.event_id, iso(now))
        verdict = stage._join(inc, event, decision, now, "attached", "fusion",
                             f"fusion {fusion.id}: signal {', '.join(kinds)} joins incident {inc.incident_id}",
                             ATTACH_FIELDS)
    window.kinds[event.event_id] = ",".join(kinds)
    stage.store.signal(sid, fusion.id, event.service, "signal", event.event_id, window.incident_id,
                      ",".join(kinds), signal, now)
    bound = stage.fusion.post(fusion, sid, signal, event.event_id)
    if bound is None:
        return verdict
    inc = stage.incidents[window.incident_id]
    stage.fusion.close(sid)
    stage.store.signal(sid, fusion.id, event.service, "fused", event.event_id, inc.incident_id,
                      ",".join(bound), None, now)
    inc.fused = fusion.id
    reason = f"fusion {fusion.id}: {', '.join(fusion.signals)} within {fusion.window:g}s → {fusion.severity}"
    return stage._upgrade(inc, event, fusion.severity, now, reason, op="fused")


FUSION = Mechanism("fusion", lambda p: p.on("fusion") and bool(p.fusion), check)
