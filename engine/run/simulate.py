"""``rules simulate``: events through the same pipeline as the daemon, actions previewed only.

Each file goes through :class:`~engine.run.pipeline.Pipeline` with an in-memory audit log; each
intent is rendered by its adapter (:meth:`~engine.run.execute.Executor.preview`) but never sent.
Events may carry an ``expect`` block (severity, owner, actions, channels, fired_rules) that
``--check`` compares with the decision.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.compiler import conditions
from engine.compiler.compile import CompiledPolicy
from engine.decide import Decision
from engine.run import replay as timeline
from engine.run.execute import Executor
from engine.run.pipeline import Pipeline
from engine.run.replay import VirtualClock
from engine.run.review.cases import expectations
from engine.run.review.expect import compare as expect_compare
from engine.run.review.runner import play
from engine.store.audit import Audit


@dataclass
class Outcome:
    file: str
    decisions: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""
    mismatches: list[str] = field(default_factory=list)
    verdicts: dict[str, bool] = field(default_factory=dict)  # event_id → its expect block held (checked events)

    @property
    def checked(self) -> bool:
        """At least one event of the file carried an ``expect`` block."""
        return bool(self.verdicts)


def event_files(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        out += sorted(x for x in p.rglob("*.json") if x.is_file()) if p.is_dir() else [p]
    return out


def simulate(compiled: CompiledPolicy, paths: list[Path], *, model: str | None = None,
             script: timeline.Script | None = None, audit_path: str = ":memory:") -> list[Outcome]:
    """``model``: the severity model file (None: ``$ESCALATION_MODEL`` or the shipped one); ``audit_path``: where
    the audit log goes (default in memory; a file keeps it, e.g. for ``rules timeline``).

    Each file goes through :func:`engine.run.review.runner.play`, the loop ``rules test`` runs its cases
    with; here all files share one audit log (history.* facts count earlier files, in file order)."""
    audit = Audit(audit_path)
    pipeline = Pipeline(compiled, audit, model=model)
    executor = Executor(audit, compiled.policy)
    clock = VirtualClock(datetime.now(UTC))  # escalations play out on it: see engine.run.replay
    audit.clock = clock.now
    outcomes = []
    for path in event_files(paths):
        try:
            data = path.read_bytes()
        except OSError as exc:
            outcomes.append(Outcome(str(path), error=f"cannot read: {exc.strerror}"))
            continue
        played = play(pipeline, clock, str(path), data, _expectations(data), script)
        outcome = Outcome(str(path), error=played.error, mismatches=played.mismatches, verdicts=played.verdicts)
        for decision, steps in played.decisions:
            doc = decision.as_dict()
            doc["also_matched"] = also_matched(compiled, decision)
            doc["requests"] = [executor.preview(i) for i in decision.intents or ()]
            doc["escalation"] = {**doc["escalation"], "timeline": steps}
            doc["rules"] = {"hash": compiled.digest, "git_commit": compiled.policy.rules_commit}
            outcome.decisions.append(doc)
        outcomes.append(outcome)
    audit.close()
    return outcomes


def also_matched(compiled: CompiledPolicy, decision: Decision) -> list[str]:
    """Severity rules that matched too but lost to the winner (the engine stops at the first)."""
    fired = set(decision.fired_rules)
    return [f"severity:{r.id}" for r in compiled.policy.severity_rules
            if f"severity:{r.id}" not in fired and conditions.evaluate(r.when, decision.event_doc)]


def _expectations(data: bytes) -> dict[str, dict[str, Any]]:
    try:
        doc = json.loads(data)
    except ValueError:
        return {}
    return expectations(doc)


def compare(expect: dict[str, Any], decision: Decision) -> list[str]:
    """Differences between an ``expect`` block and a decision (see :func:`engine.run.review.expect.compare`)."""
    return expect_compare(expect, decision)


def _model_line(d: dict[str, Any]) -> str:
    """Both verdicts: the rules' severity (authoritative) and the model's label."""
    m = d.get("model") or {}
    if m.get("label") is None:
        return f"  verdicts: rules {d['severity']}; model {m.get('version') or 'unavailable'}"
    agree = "agrees" if m["label"] == d["severity"] else "DISAGREES (audited)"
    return (f"  verdicts: rules {d['severity']}; model {m['label']} ({m['confidence']:.3f}, version {m['version']}) "
            f"{agree}; confidence {d['confidence']}")


def render_text(outcomes: list[Outcome]) -> str:
    lines = []
    for o in outcomes:
        if o.error:
            lines.append(f"{o.file}: rejected: {o.error}")
            continue
        for d in o.decisions:
            lines += _decision_lines(o.file, d)
    return "\n".join(lines)


def _decision_lines(file: str, d: dict[str, Any]) -> list[str]:
    owner = d["owner"]
    lines = [f"{file}: {d['event_id']} → {d['severity']} ({d['escalation']['level']}) incident {d['incident_id']}"]
    lines.append(_model_line(d))
    if d.get("suppression"):
        sup = d["suppression"]
        lines.append(f"  suppression: {sup['outcome']}" + (f" [{sup['mechanism']}]" if sup["mechanism"] else "")
                     + (f" — {sup['reason']}" if sup["reason"] else ""))
    for f in d["firings"]:
        why = "; ".join(f.get("why", [])) or "-"
        mark = "✔" if f["selected"] else "·"
        lines.append(f"  {mark} {f['rule']:<40} {why}")
    if d["also_matched"]:
        lines.append(f"  also matched (lower priority): {', '.join(d['also_matched'])}")
    flag = " (fallback: service has no owner)" if owner["fallback"] else ""
    lines.append(f"  owner: {owner['team']}{flag} primary={','.join(owner['primary'])} "
                 f"backup={','.join(owner['backup'])} escalation_delay={owner['escalation_delay']}s")
    for step in d["escalation"]["steps"]:
        lines.append(f"  escalation step {step['step']} at +{step['after_seconds']}s → {', '.join(step['targets'])}")
    if d["escalation"].get("timeline"):
        lines.append("  timeline (virtual clock):")
        lines += timeline.render(d["escalation"]["timeline"])
    rem = d["remediation"]
    lines.append(f"  remediation: {rem['action']} {json.dumps(rem['params'])} (rule {rem['rule']})" if rem
                 else "  remediation: none")
    for n in d["notifications"]:
        text = ("not sent (suppressed), not rendered" if n["message"] is None
                else json.dumps(n["message"], ensure_ascii=False)[:300])
        lines.append(f"  notify {n['channel']}: {text}")
    for r in d["requests"]:  # the same verdict as the JSON: a request that cannot be rendered is never "ready"
        if r.get("error"):
            state = f"cannot work: {r['error']}"
        elif r.get("configured") == "yes":
            state = "ready"
        else:
            state = f"not configured ({r.get('configured')})"
        to = f" → {', '.join(r['targets'])}" if r.get("targets") else ""  # which step's page: its targets
        lines.append(f"  would {r['kind']} via {r['action']}{to}: {state}")
    rules = d.get("rules") or {}
    if rules:
        commit = f"git {rules['git_commit']}" if rules.get("git_commit") else "not from a Git work tree"
        lines.append(f"  rules: {str(rules.get('hash', ''))[:12]} ({commit})")
    for p in d["problems"]:
        lines.append(f"  problem: {p}")
    return lines
