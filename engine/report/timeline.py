"""The timeline of one incident from its audit rows: every step, its time and its offset from detection.

``build(db, incident_id, rules=…, digest=…)`` returns a plain dict (the JSON rendering) with
``entries`` in time order, each ``{at, offset_s, kind, summary, detail}``. Kinds:

``received``      an event of the incident taken in (intake row: file, source, event time)
``classified``    its decision: severity, deciding rule with the conditions that held and their actual
                  values, the model's verdict, owner and level, and the severity rules that did not
                  decide with their first failing condition (computed: engine/run/audit_why.py)
``deduplicated`` / ``grouped`` / ``suppressed`` / ``held`` / ``fused`` / ``resolve-signal``
                  a suppression row of the incident (mechanism, outcome, reason)
``upgraded`` / ``closed``  incident state changes recorded by the suppression stage
``page`` / ``escalation`` / ``notification`` / ``remediation`` / ``upstream-ack`` / ``upstream-resolve``
                  an outbox action: adapter, step, targets, due time, attempts, outcome, duration
``acked`` / ``resolved``   an ack or resolve (by, source, when it happened upstream)

Times are the engine's clock (``at`` columns; in ``rules simulate`` the virtual clock). Detection
is the first ``received`` (else the first decision). ``resolution_path`` lists the milestones;
``cause`` is a summary drawn only from these rows. An open incident ends with ``status: open``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from engine.run.audit_why import event_fact, why
from engine.store.readonly import connect_ro
from engine.store.timeline_queries import incident_rows

SUPPRESSION_KIND = {"dedup": "deduplicated", "group": "grouped", "silence": "suppressed", "maintenance": "suppressed",
                    "inhibit": "suppressed", "flap": "suppressed", "persistence": "held", "fusion": "fused",
                    "resolve": "resolve-signal"}
ACTION_KIND = {"notify": "notification", "remediate": "remediation", "acknowledge": "upstream-ack",
               "resolve": "upstream-resolve"}


def _epoch(at: str | None) -> float | None:
    if not at:
        return None
    try:
        return datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _deciding(firings: list[dict[str, Any]], event_id: str) -> str | None:
    for f in firings:
        if f["event_id"] == event_id and f["stage"] == "severity" and f["selected"]:
            return str(f["rule"]).split(":", 1)[-1]
    return None


def _classified(d: dict[str, Any], rows: dict[str, list[dict[str, Any]]], rules: Sequence[Any] | None,
                digest: str | None) -> dict[str, Any]:
    deciding = _deciding(rows["firings"], d["event_id"])
    explained = why(d, event_fact(rows["facts"], d["event_id"]), deciding, rules, digest)
    owner = json.loads(d["owner"] or "{}")
    level = json.loads(d["escalation"] or "{}").get("level")
    model = explained["model"]
    summary = f"{d['severity']} by rule {deciding or '?'}"
    if explained.get("conditions"):
        summary += ": " + "; ".join(explained["conditions"])
    if model["label"]:
        summary += f"; model {model['label']} ({model['confidence']:.3f})"
    elif model["version"]:
        summary += f"; model {model['version']}"
    return {"kind": "classified", "summary": summary,
            "detail": {**explained, "confidence": d["confidence"], "team": owner.get("team"),
                       "primary": owner.get("primary"), "level": level,
                       "fired_rules": json.loads(d["fired_rules"] or "[]")}}


def _action_entry(a: dict[str, Any], rows: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    raw = a["intent"] or "{}"
    intent = {} if raw.startswith("redacted:") else json.loads(raw)  # `rules history redact`: only its hash left
    starts = [s for s in rows["starts"] if s["action_id"] == a["id"]]
    attempts = [{k: t[k] for k in ("attempt", "ok", "status", "detail", "reason", "waited", "at")}
                for t in rows["attempts"] if t["action_id"] == a["id"]]
    result = next((r for r in rows["results"] if r["action_id"] == a["id"]), None)
    kind = ACTION_KIND.get(a["kind"], "escalation" if a["kind"] == "page" and a["step"] else a["kind"])
    began = starts[0]["at"] if starts else None
    at = began or (result["at"] if result else a["due_at"])
    outcome = result["outcome"] if result else "pending"
    duration = None
    if result and (began or a["due_at"]):
        t0, t1 = _epoch(began or a["due_at"]), _epoch(result["at"])
        duration = None if t0 is None or t1 is None else round(max(t1 - t0, 0.0), 3)
    targets = intent.get("targets") or []
    summary = f"{a['action']} step {a['step']}" if a["kind"] == "page" else a["action"]
    summary += (f" → {', '.join(targets)}" if targets else "") + f": {outcome}"
    if result and result["detail"]:
        summary += f" ({result['detail']})"
    if not result:
        summary += f", due {a['due_at']}"
    detail = {"action_id": a["id"], "adapter": a["action"], "step": a["step"], "targets": targets,
              "requested_at": a["at"], "due_at": a["due_at"], "attempts": attempts, "outcome": outcome,
              "result_at": result["at"] if result else None, "duration_s": duration,
              "rule": intent.get("rule_id"), "params": intent.get("params") or None}
    return {"kind": kind, "at": at, "summary": summary, "detail": detail}


def build(db: Any, incident_id: str, *, rules: Sequence[Any] | None = None,
          digest: str | None = None) -> dict[str, Any] | None:
    """The timeline of ``incident_id`` (None when the log has no decision for it)."""
    conn = db if not isinstance(db, str | Path) else connect_ro(db)
    try:
        rows = incident_rows(conn, incident_id)
    finally:
        if isinstance(db, str | Path):
            conn.close()
    if not rows["decisions"]:
        return None
    entries: list[dict[str, Any]] = []
    for d in rows["decisions"]:
        entries.append({"kind": "received", "at": d["received_at"] or d["at"],
                        "summary": f"{d['event_id']} from {d['source'] or '?'} ({d['file'] or 'no file'}), "
                                   f"event time {d['timestamp']}",
                        "detail": {"event_id": d["event_id"], "source": d["source"], "file": d["file"],
                                   "event_time": d["timestamp"], "status": d["status"]}})
        entries.append({"at": d["at"], **_classified(d, rows, rules, digest)})
    for s in rows["suppressions"]:
        entries.append({"kind": SUPPRESSION_KIND.get(s["mechanism"] or "", s["outcome"]),
                        "at": s["received_at"] or s["at"],
                        "summary": f"{s['event_id']}: {s['outcome']} ({s['mechanism'] or 'hold'}) — {s['reason']}",
                        "detail": dict(s)})
    for r in rows["incidents"]:
        if r["op"] in ("upgrade", "close", "fused"):
            entries.append({"kind": {"upgrade": "upgraded", "close": "closed"}.get(r["op"], r["op"]),
                            "at": r["received_at"] or r["at"], "summary": f"{r['severity']}: {r['reason']}",
                            "detail": dict(r)})
    entries += [_action_entry(a, rows) for a in rows["actions"]]
    for u in rows["updates"]:
        kind = "acked" if u["type"] == "ack" else "resolved"
        entries.append({"kind": kind, "at": u["at"],
                        "summary": f"{kind} by {u['by']} via {u['source']}" + (f": {u['note']}" if u["note"] else ""),
                        "detail": dict(u)})
    entries.sort(key=lambda e: _epoch(e["at"]) or 0.0)  # stable: at one instant, in the order written
    t0 = _epoch(entries[0]["at"]) or 0.0
    for e in entries:
        at = _epoch(e["at"])
        e["offset_s"] = None if at is None else round(at - t0, 3)
    status = ("resolved" if any(u["type"] == "resolve" for u in rows["updates"])
              else "acked" if any(u["type"] == "ack" for u in rows["updates"]) else "open")
    ordered = [{"at": e["at"], "offset_s": e["offset_s"], "kind": e["kind"], "summary": e["summary"],
                "detail": e["detail"]} for e in entries]
    return {"incident_id": incident_id, "status": status, "detected_at": entries[0]["at"],
            "severity": max((d["severity"] for d in rows["decisions"]), key=_rank),
            "service": _service(rows), "entries": ordered,
            "resolution_path": resolution_path(ordered, status), "cause": cause(ordered, status)}


def _rank(severity: str) -> int:
    return {"NONE": 0, "MODERATE": 1, "MAJOR": 2, "CRITICAL": 3}.get(severity, 0)


def _service(rows: dict[str, list[dict[str, Any]]]) -> str | None:
    return rows["decisions"][0]["service"]


def offset(seconds: float | None) -> str:
    """``+0s``, ``+2m00s``, ``+1h05m``, ``+3d04h``: the offset from detection."""
    if seconds is None:
        return "?"
    s = int(round(seconds))
    sign = "-" if s < 0 else "+"
    s = abs(s)
    if s < 60:
        return f"{sign}{s}s"
    if s < 3600:
        return f"{sign}{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{sign}{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{sign}{s // 86400}d{s % 86400 // 3600:02d}h"


MILESTONES = ("page", "escalation", "remediation", "acked", "resolved", "upgraded", "closed", "fused")


def resolution_path(entries: list[dict[str, Any]], status: str) -> list[str]:
    """The milestones in order: detected, each page/escalation/remediation with outcome, ack, resolve."""
    path = [f"detected {offset(0)}"]
    for e in entries:
        if e["kind"] not in MILESTONES:
            continue
        d = e["detail"]
        if e["kind"] in ("page", "escalation", "remediation"):
            path.append(f"{e['kind']} {d['adapter']}{' step ' + str(d['step']) if e['kind'] != 'remediation' else ''}"
                        f" {d['outcome']} {offset(e['offset_s'])}")
        elif e["kind"] in ("acked", "resolved"):
            path.append(f"{e['kind']} by {d['by']} {offset(e['offset_s'])}")
        else:
            path.append(f"{e['kind']} {offset(e['offset_s'])}")
    if status != "resolved":
        path.append(f"still {status}")
    return path


def cause(entries: list[dict[str, Any]], status: str) -> str:
    """One paragraph from recorded data only: what decided the severity, what ran, how it ended."""
    classified = [e for e in entries if e["kind"] == "classified"]
    top = max(classified, key=lambda e: _rank(e["detail"]["severity"]))
    d = top["detail"]
    text = f"{d['severity']} because rule {d['deciding_rule'] or '?'} matched"
    if d.get("conditions"):
        text += " (" + "; ".join(d["conditions"]) + ")"
    if d["model"]["label"]:
        text += f"; the model said {d['model']['label']} at {d['model']['confidence']:.3f}"
    fixes = [e["detail"] for e in entries if e["kind"] == "remediation"]
    if fixes:
        text += "; remediation " + ", ".join(f"{f['adapter']} {f['outcome']}" for f in fixes)
    others = sum(1 for e in entries if e["kind"] in SUPPRESSION_KIND.values() and e["kind"] != "held")
    if others:
        text += f"; {others} related event(s) deduplicated, grouped or suppressed"
    ended = next((e for e in entries if e["kind"] == "resolved"), None)
    text += (f"; resolved by {ended['detail']['by']} via {ended['detail']['source']} {offset(ended['offset_s'])} "
             "after detection" if ended else f"; {status} at the time of this report")
    return text + "."
