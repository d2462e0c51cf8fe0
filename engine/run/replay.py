"""Escalation timelines on a virtual clock, for ``rules simulate`` (no sleeping, no sending).

Takes the simulation's pipeline and in-memory audit log, whose clock is a
:class:`VirtualClock`, plus a script of acks/resolves, and plays one incident forward:
whichever comes first — the next scripted update or the next due outbox row — happens
next, the clock jumping to its time. Scripted updates go through
:meth:`~engine.run.pipeline.Pipeline.process` as canonical ack files, so they take the same path
as in ``rules run``; due rows go through :func:`engine.decide.escalation.cancellation` exactly as the
executor's, and are recorded ``simulated`` (or ``cancelled``) instead of being sent. A scripted
update at the same instant as a due step comes first (a human acking at +5m stops the +5m step).

Scripts (``--script FILE``, YAML or JSON): a list of steps applied to every incident, or a
mapping from incident or event id (``"*"``: any other) to a list::

    - {at: "+4m", ack: bob@company.com}
    - {at: "+20m", resolve: bob@company.com, source: pagerduty}

Timeline entries: ``{at_seconds, kind, action, step, targets, by, detail}`` with kind ``page``,
``cancelled``, ``acked``, ``resolved`` (scripted), ``acknowledge``/``resolve`` (upstream requests).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from engine.decide.escalation import iso
from engine.model.event import ScriptStep, TimelineEntry, parse_offset
from engine.run.acknowledge import cancellation
from engine.run.pipeline import Pipeline
from engine.store.audit import Audit
from engine.store.outbox import intent_from_json

Script = dict[str, list[ScriptStep]]
SHOWN = ("page", "acknowledge", "resolve")
MAX_ROUNDS = 1000
FAR_FUTURE = "9999-12-31T23:59:59.999Z"


class VirtualClock:
    """The audit log's clock during a simulation: ``now()`` in the audit format, set by the runner."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> str:
        return iso(self.at)

    def set(self, at: datetime) -> None:
        self.at = at


def load_script(path: Path) -> Script:
    """Read a ``--script`` file; ValueError with the reason when it is malformed."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"cannot read script {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:  # one line: file:line:col: problem (PyYAML's own text spans several)
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise ValueError(f"{where}: invalid YAML: {getattr(exc, 'problem', None) or exc}") from exc
    return parse_script(raw, str(path))


def parse_script(raw: Any, where: str = "script") -> Script:
    keyed = raw if isinstance(raw, Mapping) else {"*": raw}
    out: Script = {}
    for key, steps in keyed.items():
        if not isinstance(steps, list):
            raise ValueError(f"{where}: {key!r} must be a list of steps like {{at: '+4m', ack: bob}}")
        out[str(key)] = []
        for i, s in enumerate(steps):
            try:
                out[str(key)].append(ScriptStep.model_validate(s))
            except ValidationError as exc:
                first = exc.errors(include_url=False)[0]
                loc = "/".join(str(p) for p in (i, *first["loc"]))
                raise ValueError(f"{where}: {key}: step {loc}: {first['msg']}") from exc
    return out


def script_for(script: Script | None, incident_id: str, event_id: str) -> list[ScriptStep] | None:
    if not script:
        return None
    return script.get(incident_id) or script.get(event_id) or script.get("*")


def run(pipeline: Pipeline, audit: Audit, clock: VirtualClock, incident_id: str, start: datetime,
        steps: list[ScriptStep]) -> list[dict[str, Any]]:
    """Play ``incident_id`` forward from ``start`` until nothing is pending and the script is done."""
    todo = sorted(enumerate(steps), key=lambda p: (parse_offset(p[1].at), p[0]))
    timeline: list[dict[str, Any]] = []
    for _ in range(MAX_ROUNDS):
        pending = [r for r in audit.pending_actions(FAR_FUTURE) if _incident(r) == incident_id]
        next_due = min((datetime.fromisoformat(r["due_at"]) for r in pending), default=None)
        next_step = start + timedelta(seconds=parse_offset(todo[0][1].at)) if todo else None
        if next_step is None and next_due is None:
            break
        if next_step is not None and (next_due is None or next_step <= next_due):
            i, step = todo.pop(0)
            clock.set(next_step)
            _apply(pipeline, incident_id, i, step, next_step)
            kind, by = ("acked", step.ack) if step.ack is not None else ("resolved", step.resolve)
            timeline.append(_entry(start, next_step, kind=kind, by=by, detail=f"source {step.source}"))
            continue
        assert next_due is not None
        clock.set(next_due)
        for row in audit.pending_actions(clock.now()):
            if _incident(row) == incident_id:
                timeline += _execute(audit, row, start, next_due)
    return timeline


def _apply(pipeline: Pipeline, incident_id: str, i: int, step: ScriptStep, at: datetime) -> None:
    doc = {"type": "ack" if step.ack is not None else "resolve", "event_id": f"script-{incident_id}-{i}",
           "incident_id": incident_id, "by": step.ack or step.resolve, "timestamp": iso(at), "source": step.source}
    pipeline.process(f"script:{incident_id}:{i}", json.dumps(doc).encode())


def _execute(audit: Audit, row: Mapping[str, Any], start: datetime, at: datetime) -> list[dict[str, Any]]:
    intent = intent_from_json(row["intent"])
    stopped = cancellation(audit, int(row["id"]), intent.kind)
    audit.record_result(int(row["id"]), "cancelled" if stopped else "simulated", stopped or "dry run", None,
                        row["rules_hash"])
    if intent.kind not in SHOWN:
        return []
    return [_entry(start, at, kind="cancelled" if stopped else intent.kind, action=intent.action,
                   step=intent.step, targets=list(intent.targets), detail=stopped or "")]


def _entry(start: datetime, at: datetime, **fields: Any) -> dict[str, Any]:
    seconds = (at - start).total_seconds()
    out: dict[str, Any] = {"at_seconds": int(seconds) if seconds == int(seconds) else seconds}
    out.update({k: v for k, v in fields.items() if v not in (None, "")})
    return out


def _incident(row: Mapping[str, Any]) -> str:
    return json.loads(row["intent"]).get("incident_id", "")


def compare(want: list[dict[str, Any]] | None, have: list[dict[str, Any]]) -> list[str]:
    """Mismatches between ``expect.timeline`` and a timeline: same length, given fields equal."""
    if want is None:
        return []
    out = []
    for i, w in enumerate(want):
        fields = TimelineEntry.model_validate(w).model_dump(exclude_none=True)
        got = have[i] if i < len(have) else None
        if got is None or any(got.get(k) != v for k, v in fields.items()):
            out.append(f"timeline[{i}]: want {fields}, have {got}")
    if len(have) > len(want):
        out.append(f"timeline: {len(have) - len(want)} more entries than expected, first {have[len(want)]}")
    return out


def render(timeline: list[dict[str, Any]]) -> list[str]:
    lines = []
    for e in timeline:
        when = f"+{e['at_seconds']}s"
        if e["kind"] in ("acked", "resolved"):
            lines.append(f"    {when:>8}  {e['kind']} by {e['by']} ({e.get('detail', '')})")
        elif e["kind"] == "cancelled":
            lines.append(f"    {when:>8}  cancelled step {e['step']} via {e['action']}: {e.get('detail', '')}")
        elif e["kind"] == "page":
            lines.append(f"    {when:>8}  page step {e['step']} via {e['action']} → {', '.join(e['targets'])}")
        else:
            lines.append(f"    {when:>8}  {e['kind']} via {e['action']}")
    return lines
