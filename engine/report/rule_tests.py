"""``rules test`` results as text, JUnit XML, JSON or GitHub Actions annotations.

Text prints one ``PASS|FAIL|ERROR <file>:<line> <name>`` line per case, each difference
indented under a failing one (``<event>: <key>: want X, have Y``), and always ends with
``N passed, N failed`` (an ERROR counts as failed).
"""

from __future__ import annotations

import json
from typing import Any
from xml.etree import ElementTree as ET

from engine.run.review.runner import CaseResult

MAX_ANNOTATIONS = 10  # GitHub shows at most 10 error annotations per step


def counts(results: list[CaseResult]) -> tuple[int, int]:
    passed = sum(r.status == "PASS" for r in results)
    return passed, len(results) - passed


def summary(results: list[CaseResult]) -> str:
    passed, failed = counts(results)
    return f"{passed} passed, {failed} failed"


def text(results: list[CaseResult], verbose: bool = False) -> str:
    lines = []
    for r in results:
        if r.status == "PASS" and not verbose:
            continue
        lines.append(f"{r.status} {r.case.where} {r.case.name}")
        lines += [f"    {d}" for d in r.diffs]
    lines.append(summary(results))
    return "\n".join(lines)


def as_json(results: list[CaseResult], coverage: dict[str, Any] | None = None) -> str:
    passed, failed = counts(results)
    doc: dict[str, Any] = {
        "cases": [{"name": r.case.name, "file": r.case.file, "line": r.case.line, "status": r.status,
                   "diffs": r.diffs, "seconds": round(r.seconds, 6), "decisions": r.decisions} for r in results],
        "passed": passed, "failed": failed, "errors": sum(r.status == "ERROR" for r in results),
    }
    if coverage is not None:
        doc["coverage"] = coverage
    return json.dumps(doc, indent=2, ensure_ascii=False, default=str)


def junit(results: list[CaseResult]) -> str:
    """JUnit XML: one ``testsuite`` per file, one ``testcase`` per case."""
    root = ET.Element("testsuites", name="rules test")
    by_file: dict[str, list[CaseResult]] = {}
    for r in results:
        by_file.setdefault(r.case.file, []).append(r)
    total_f = total_e = 0
    for file, group in by_file.items():
        fails = sum(r.status == "FAIL" for r in group)
        errors = sum(r.status == "ERROR" for r in group)
        total_f, total_e = total_f + fails, total_e + errors
        suite = ET.SubElement(root, "testsuite", name=file, tests=str(len(group)), failures=str(fails),
                              errors=str(errors), time=f"{sum(r.seconds for r in group):.6f}")
        for r in group:
            case = ET.SubElement(suite, "testcase", name=r.case.name, classname=file, file=file,
                                 line=str(r.case.line), time=f"{r.seconds:.6f}")
            if r.status != "PASS":
                tag = "failure" if r.status == "FAIL" else "error"
                node = ET.SubElement(case, tag, message=r.diffs[0] if r.diffs else r.status)
                node.text = "\n".join(r.diffs)
    root.set("tests", str(len(results)))
    root.set("failures", str(total_f))
    root.set("errors", str(total_e))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")


def _escape(value: str, prop: bool = False) -> str:
    out = value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return out.replace(":", "%3A").replace(",", "%2C") if prop else out


def github(results: list[CaseResult]) -> str:
    """Workflow commands: an ``::error`` annotation per failing case (at most 10), then the summary."""
    lines = []
    bad = [r for r in results if r.status != "PASS"]
    for r in bad[:MAX_ANNOTATIONS]:
        title = _escape(f"rules test {r.status}: {r.case.name}", prop=True)
        lines.append(f"::error file={_escape(r.case.file, True)},line={r.case.line},title={title}::"
                     + _escape("\n".join(r.diffs) or r.status))
    if len(bad) > MAX_ANNOTATIONS:
        lines.append(f"::notice title=rules test::{len(bad) - MAX_ANNOTATIONS} more failing case(s) not annotated")
    lines.append(summary(results))
    return "\n".join(lines)
