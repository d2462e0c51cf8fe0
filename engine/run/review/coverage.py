"""Coverage of the policy by test cases: per rule, and per condition leaf both ways.

Per rule (severity and remediation rules): **decided** (it was the rule that chose the severity,
or the remediation), **matched** (its condition was true for some decision but another rule
won), or **never** matched. Per condition leaf (``metrics.availability: {lt: 0.5}``): whether
it was seen **true** and seen **false**, each leaf at ``file:line:col``.

A leaf of a severity rule is evaluated on every decision; a leaf of a remediation rule only on
decisions at that rule's severity (the only ones whose decision tree it is part of).

:class:`EngineCoverage` is a :data:`engine.decide.Observer`: the decider calls it after each stage
of every decision it drafts (a suppressed repeat re-decided for its incident counts again). What
was **decided** is what the engine chose (the selected severity firing, the remediation the draft
carries). **Matched** and the leaves come from the Python evaluator (:mod:`engine.compiler.conditions`):
durable-rules retracts the event fact once a severity rule fires, so the other rules' conditions
are never evaluated by the engine. The two are checked against each other on every draft: the
first rule the Python evaluator finds true (in the engine's order: highest severity, then file
order; remediations in file order) must be the one the engine chose; each disagreement is listed
in the report's ``disagreements`` and makes ``rules test`` fail.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from engine.compiler import conditions
from engine.compiler.compile import CompiledPolicy
from engine.compiler.load import Document
from engine.decide import STAGES, Draft
from engine.model.vocabulary import SEVERITIES

LAST_STAGE = STAGES[-1].name  # the draft is complete: severity, owner, remediation, escalation


class Collector(Protocol):
    def __call__(self, stage: str, draft: Draft) -> None: ...

    def report(self) -> dict[str, Any]: ...


@dataclass
class _Leaf:
    leaf: conditions.Leaf
    file: str
    line: int
    col: int
    true: int = 0
    false: int = 0

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"

    def describe(self) -> str:
        return f"{self.leaf.path} {self.leaf.op} {self.leaf.value!r}"


@dataclass
class _Rule:
    name: str  # severity:<id> | remediate:<id>
    stage: str
    severity: str
    when: Any
    where: str
    leaves: list[_Leaf] = field(default_factory=list)
    decided: int = 0
    matched: int = 0

    @property
    def status(self) -> str:
        return "decided" if self.decided else ("matched" if self.matched else "never")


def leaves(node: Any) -> list[conditions.Leaf]:
    if isinstance(node, conditions.Leaf):
        return [node]
    if isinstance(node, conditions.Not):
        return leaves(node.item)
    return [leaf for item in node.items for leaf in leaves(item)]


class EngineCoverage:
    """Coverage from the decider's observer hook (see the module docstring)."""

    def __init__(self, compiled: CompiledPolicy, docs: list[Document]) -> None:
        by_file = {d.path: d for d in docs}
        self.rules: list[_Rule] = []
        policy = compiled.policy
        for stage, rules in (("severity", policy.severity_rules), ("remediate", policy.remediation)):
            for r in rules:
                doc = by_file.get(r.origin.file)
                rule = _Rule(f"{stage}:{r.id}", stage, r.severity, r.when, str(r.origin))
                for leaf in leaves(r.when) if r.when is not None else []:
                    line, col = doc.where(leaf.pointer) if doc else (r.origin.line, r.origin.col)
                    rule.leaves.append(_Leaf(leaf, r.origin.file, line, col))
                self.rules.append(rule)
        rank = {s: i for i, s in enumerate(reversed(SEVERITIES))}  # the compiler's pri bands: CRITICAL first
        self._severity_order = sorted((r for r in self.rules if r.stage == "severity"), key=lambda r: rank[r.severity])
        self.decisions = 0
        self.disagreements: list[str] = []

    def __call__(self, stage: str, draft: Draft) -> None:
        if stage != LAST_STAGE:
            return
        self.decisions += 1
        doc = draft.doc
        chosen_severity = next((f.meta.name for f in draft.firings if f.selected and f.meta.stage == "severity"),
                               "severity:default")
        chosen_remedy = f"remediate:{draft.remediation['rule']}" if draft.remediation else None
        first_true: dict[str, str | None] = {"severity": None, "remediate": None}
        for rule in self._severity_order + [r for r in self.rules if r.stage == "remediate"]:
            if rule.stage == "remediate" and rule.severity != draft.severity:
                continue
            true = rule.when is None or conditions.evaluate(rule.when, doc)
            if true and first_true[rule.stage] is None:
                first_true[rule.stage] = rule.name
            if rule.name == (chosen_severity if rule.stage == "severity" else chosen_remedy):
                rule.decided += 1
            elif true:
                rule.matched += 1
            for c in rule.leaves:
                if conditions.leaf_true(c.leaf, conditions.lookup(doc, c.leaf.path)):
                    c.true += 1
                else:
                    c.false += 1
        self._agree(draft, "severity", chosen_severity, first_true["severity"] or "severity:default")
        if draft.forced is None or draft.forced == draft.engine_severity:  # else Python chose it (engine.decide)
            self._agree(draft, "remediation", chosen_remedy, first_true["remediate"])

    def _agree(self, draft: Draft, what: str, engine: str | None, python: str | None) -> None:
        if engine != python:
            self.disagreements.append(f"{draft.event.event_id}: the engine chose {what} {engine or 'none'}, "
                                      f"the Python evaluator {python or 'none'}")

    def report(self) -> dict[str, Any]:
        all_leaves = [c for r in self.rules for c in r.leaves]
        decided = sum(r.decided > 0 for r in self.rules)
        ways = sum((c.true > 0) + (c.false > 0) for c in all_leaves)
        return {
            "decisions": self.decisions,
            "rules": {"total": len(self.rules), "decided": decided,
                      "matched": sum(r.status == "matched" for r in self.rules),
                      "never": sum(r.status == "never" for r in self.rules),
                      "percent": _pct(decided, len(self.rules))},
            "leaves": {"total": len(all_leaves), "both_ways": sum(c.true > 0 and c.false > 0 for c in all_leaves),
                       "ways_seen": ways, "percent": _pct(ways, 2 * len(all_leaves))},
            "per_rule": [{"rule": r.name, "where": r.where, "status": r.status, "decided": r.decided,
                          "matched": r.matched,
                          "leaves": [{"where": c.where, "leaf": c.describe(), "true": c.true, "false": c.false}
                                     for c in r.leaves]}
                         for r in self.rules],
            **({"disagreements": self.disagreements} if self.disagreements else {}),
        }


def _pct(n: int, total: int) -> float:
    return round(100.0 * n / total, 2) if total else 100.0


def below(report: dict[str, Any], threshold: float) -> list[str]:
    """Why coverage is below ``threshold`` percent (empty: it is not)."""
    out = []
    for key, what in (("rules", "rules decided"), ("leaves", "condition leaves seen true and false")):
        pct = report[key]["percent"]
        if pct < threshold:
            out.append(f"coverage of {what} is {pct:.2f} %, below the threshold {threshold:g} %")
    return out


def text(report: dict[str, Any]) -> str:
    """Per rule its status; each uncovered leaf at file:line:col with the way never seen."""
    lines = ["coverage:"]
    for r in report["per_rule"]:
        lines.append(f"  {r['status']:<8} {r['rule']:<40} {r['where']}  (decided {r['decided']}, "
                     f"matched {r['matched']})")
        for c in r["leaves"]:
            missing = [w for w, n in (("true", c["true"]), ("false", c["false"])) if not n]
            if missing:
                lines.append(f"    {c['where']}: {c['leaf']} never seen {' or '.join(missing)}")
    rules, lv = report["rules"], report["leaves"]
    lines.append(f"rules: {rules['decided']}/{rules['total']} decided ({rules['percent']:.2f} %), "
                 f"{rules['matched']} only matched, {rules['never']} never matched; "
                 f"leaves: {lv['ways_seen']}/{2 * lv['total']} ways seen ({lv['percent']:.2f} %), "
                 f"{lv['both_ways']}/{lv['total']} both ways")
    return "\n".join(lines)


def lcov(report: dict[str, Any]) -> str:
    """lcov tracefile: a line per leaf (hits = evaluations) and two branches (true, false)."""
    by_file: dict[str, list[tuple[int, int, int]]] = {}
    for r in report["per_rule"]:
        for c in r["leaves"]:
            file, line, _ = c["where"].rsplit(":", 2)
            by_file.setdefault(file, []).append((int(line), c["true"], c["false"]))
    out = ["TN:rules"]
    for file, rows in sorted(by_file.items()):
        out.append(f"SF:{file}")
        for block, (line, t, f) in enumerate(rows):
            out += [f"BRDA:{line},{block},0,{t or '-'}", f"BRDA:{line},{block},1,{f or '-'}"]
        out.append(f"BRF:{2 * len(rows)}")
        out.append(f"BRH:{sum((t > 0) + (f > 0) for _, t, f in rows)}")
        lines: dict[int, int] = {}
        for line, t, f in rows:
            lines[line] = lines.get(line, 0) + t + f
        out += [f"DA:{line},{hits}" for line, hits in sorted(lines.items())]
        out += [f"LF:{len(lines)}", f"LH:{sum(h > 0 for h in lines.values())}", "end_of_record"]
    return "\n".join(out) + "\n"


def cobertura(report: dict[str, Any]) -> str:
    """Cobertura XML: a class per rule, a line per leaf with its condition coverage (true/false)."""
    from xml.etree import ElementTree as ET

    lv = report["leaves"]
    rate = f"{lv['percent'] / 100:.4f}"
    root = ET.Element("coverage", {"line-rate": f"{report['rules']['percent'] / 100:.4f}", "branch-rate": rate,
                                   "lines-covered": str(report["rules"]["decided"]),
                                   "lines-valid": str(report["rules"]["total"]),
                                   "branches-covered": str(lv["ways_seen"]), "branches-valid": str(2 * lv["total"]),
                                   "complexity": "0", "version": "1", "timestamp": "0"})
    ET.SubElement(ET.SubElement(root, "sources"), "source").text = "."
    packages = ET.SubElement(root, "packages")
    files: dict[str, Any] = {}
    for r in report["per_rule"]:
        file, line, _ = r["where"].rsplit(":", 2)
        if file not in files:
            pkg = ET.SubElement(packages, "package", name=file, complexity="0")
            files[file] = ET.SubElement(pkg, "classes")
        ways = sum((c["true"] > 0) + (c["false"] > 0) for c in r["leaves"])
        n = 2 * len(r["leaves"])
        cls = ET.SubElement(files[file], "class", {"name": r["rule"], "filename": file, "complexity": "0",
                                                   "line-rate": "1" if r["decided"] else "0",
                                                   "branch-rate": f"{ways / n:.4f}" if n else "1"})
        ET.SubElement(cls, "methods")
        lines = ET.SubElement(cls, "lines")
        ET.SubElement(lines, "line", number=line, hits=str(r["decided"]), branch="false")
        for c in r["leaves"]:
            seen = (c["true"] > 0) + (c["false"] > 0)
            ET.SubElement(lines, "line", {"number": c["where"].rsplit(":", 2)[1], "hits": str(c["true"] + c["false"]),
                                          "branch": "true",
                                          "condition-coverage": f"{seen * 50}% ({seen}/2)"})
    ET.indent(root)
    return '<?xml version="1.0" ?>\n' + ET.tostring(root, encoding="unicode")
