"""``rules timeline``: golden files (Markdown and JSON) on the sample events' incidents, and the rest checked
against a generated history.

The sample log is ``rules simulate`` over sample-events/ written to a file: its virtual clock starts at
each event's time, so every time in it is fixed. Regenerate the golden files after a deliberate change
of the policy, the model or the timeline with ``UPDATE_GOLDEN=1 python -m pytest tests/history``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from history_gen import Incident, expected_row
from history_kit import ROOT, rules

from engine.cli.options import load_compiled
from engine.report.timeline import build, offset
from engine.run.simulate import simulate

GOLDEN = Path(__file__).parent / "golden"
INCIDENTS = ("INC-2025-001", "INC-2025-005", "SUP-DEDUP-1")


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    db = tmp_path_factory.mktemp("sim") / "sim.db"
    cwd = Path.cwd()
    os.chdir(ROOT)  # the intake rows name the files as given: relative, so the golden files do not hold a tmp path
    try:
        compiled = load_compiled(Path("rules"), quiet_warnings=True)
        simulate(compiled, [Path("sample-events")], audit_path=str(db))
    finally:
        os.chdir(cwd)
    return db, compiled.policy.digest


def _stable(text: str, digest: str) -> str:
    """The policy's hash replaced: editing a rule file must not move every golden byte."""
    return text.replace(digest, "<rules-hash>").replace(digest[:12], "<rules-hash>")


@pytest.mark.parametrize("incident", INCIDENTS)
@pytest.mark.parametrize("fmt", ["markdown", "json"])
def test_golden(simulated: tuple[Path, str], incident: str, fmt: str) -> None:
    db, digest = simulated
    res = rules("timeline", incident, "--format", fmt, "--db", str(db), "--rules", str(ROOT / "rules"))
    assert res.returncode == 0, res.stderr
    text = _stable(res.stdout, digest)
    golden = GOLDEN / f"timeline-{incident}.{'md' if fmt == 'markdown' else 'json'}"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(text)
    assert text == golden.read_text()


def test_acked_incident_tells_the_whole_story(simulated: tuple[Path, str]) -> None:
    db, digest = simulated
    from engine.compiler.validate import validate

    policy, _ = validate(ROOT / "rules")
    assert policy is not None
    t = build(db, "INC-2025-005", rules=policy.severity_rules, digest=digest)
    assert t is not None and t["status"] == "resolved"
    kinds = [e["kind"] for e in t["entries"]]
    assert kinds[:2] == ["received", "classified"]
    classified = t["entries"][1]["detail"]
    assert classified["deciding_rule"] == "latency-degraded"
    assert classified["conditions"] == ["metrics.latency_p99_ms gte 1000 (actual 1600.0)"]
    assert classified["computed"] is True
    failing = {n["rule"]: n["first_failure"] for n in classified["not_decided"]}
    assert failing["error-rate-elevated"] == "metrics.error_rate gte 0.01 (actual 0.004)"
    acked = next(e for e in t["entries"] if e["kind"] == "acked")
    assert acked["offset_s"] == 120 and acked["detail"]["by"] == "dave@company.com"
    cancelled = [e for e in t["entries"] if e["kind"] == "escalation"]
    assert [e["detail"]["outcome"] for e in cancelled] == ["cancelled", "cancelled"]
    assert all(e["offset_s"] == 180 for e in cancelled)
    assert t["resolution_path"][-1] == "resolved by dave@company.com +20m00s"


def test_other_rules_hash_is_said_not_guessed(simulated: tuple[Path, str]) -> None:
    db, _ = simulated
    t = build(db, "INC-2025-001", rules=[], digest="f" * 64)
    assert t is not None
    d = t["entries"][1]["detail"]
    assert d["computed"] is False and "not loaded (--rules has ffffffffffff)" in d["note"]
    assert "not_decided" not in d


def test_html_is_one_escaped_file(simulated: tuple[Path, str], tmp_path: Path) -> None:
    db, _ = simulated
    out = tmp_path / "t.html"
    res = rules("timeline", "INC-2025-002", "--format", "html", "-o", str(out), "--db", str(db))
    assert res.returncode == 0, res.stderr
    page = out.read_text()
    assert page.startswith("<!doctype html>") and "<script" not in page and "http" not in page.split("<body>")[0]
    assert "scale-out" in page and "Timeline of INC-2025-002" in page


def test_open_incident_and_unknown_incident(generated: tuple[Path, list[Incident]]) -> None:
    path, incidents = generated
    inc = next(i for i in incidents if not i.ack and not i.resolve and i.pages)
    t = build(path, inc.incident_id)
    assert t is not None and t["status"] == "open" and t["resolution_path"][-1] == "still open"
    want = expected_row(inc)
    pages = [e for e in t["entries"] if e["kind"] in ("page", "escalation")]
    assert len(pages) == len(inc.pages)
    assert sum(e["detail"]["outcome"] not in ("cancelled", "superseded", "pending") for e in pages) == want["pages"]
    assert [e["detail"]["severity"] for e in t["entries"] if e["kind"] == "classified"] == inc.severities
    res = rules("timeline", "INC-none", "--db", str(path))
    assert res.returncode == 1 and res.stderr.strip() == f"error: no incident 'INC-none' in {path}"


def test_resolved_generated_incident_offsets(generated: tuple[Path, list[Incident]]) -> None:
    path, incidents = generated
    inc = next(i for i in incidents if i.ack and i.resolve)
    t = build(path, inc.incident_id)
    assert t is not None
    got = {e["kind"]: e["offset_s"] for e in t["entries"] if e["kind"] in ("acked", "resolved")}
    assert got == {"acked": inc.ack[1] - inc.opened, "resolved": inc.resolve[1] - inc.opened}  # type: ignore[index]


def test_offset_format() -> None:
    assert [offset(s) for s in (0, 59, 60, 125, 3600, 3725, 90000, -5)] == [
        "+0s", "+59s", "+1m00s", "+2m05s", "+1h00m", "+1h02m", "+1d01h", "-5s"]


def test_json_golden_parses(simulated: tuple[Path, str]) -> None:
    for incident in INCIDENTS:
        doc = json.loads((GOLDEN / f"timeline-{incident}.json").read_text())
        assert doc["incident_id"] == incident and doc["entries"]
