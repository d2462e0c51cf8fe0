"""``rules simulate --script``: the escalation timeline on a virtual clock, printed and checked."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUTAGE = ROOT / "sample-events" / "critical-service-outage.json"
ACKED = ROOT / "sample-events" / "escalation" / "major-escalation-acknowledged.json"


def rules(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine.cli", "simulate", "--rules", str(ROOT / "rules"), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_script_ack_then_resolve_prints_the_timeline(tmp_path: Path):
    script = tmp_path / "acks.yaml"
    script.write_text('- {at: "+4m", ack: "bob@company.com"}\n- {at: "+20m", resolve: "bob@company.com"}\n')
    run = rules(str(OUTAGE), "--script", str(script), "--format", "json")
    assert run.returncode == 0, run.stderr
    timeline = json.loads(run.stdout)[0]["escalation"]["timeline"]
    primary = ["alice@company.com", "bob@company.com", "cto@company.com", "vp-eng@company.com"]
    assert [(e["at_seconds"], e["kind"], e.get("action"), e.get("step"), e.get("targets"), e.get("by"))
            for e in timeline] == [
        (0, "page", "pagerduty", 0, primary, None),
        (0, "page", "slack", 0, ["S0BACKEND1", *primary], None),
        (240, "acked", None, None, None, "bob@company.com"),
        (240, "acknowledge", "pagerduty", 0, [], None),
        (300, "cancelled", "pagerduty", 1, ["charlie@company.com"], None),
        (300, "cancelled", "slack", 1, ["S0BACKEND1", "charlie@company.com"], None),
        (1200, "resolved", None, None, None, "bob@company.com"),
        (1200, "resolve", "pagerduty", 0, [], None),
    ]
    text = rules(str(OUTAGE), "--script", str(script))
    assert "+300s  cancelled step 1 via pagerduty: acknowledged by bob@company.com at 2025-01-01T14:27:45" \
        in text.stdout
    assert "+0s  page step 0 via pagerduty → alice@company.com, bob@company.com" in text.stdout


def test_without_a_script_the_backup_is_paged_at_the_delay(tmp_path: Path):
    run = rules(str(OUTAGE), "--format", "json")
    timeline = json.loads(run.stdout)[0]["escalation"]["timeline"]
    assert [(e["at_seconds"], e["kind"], e["action"], e["targets"]) for e in timeline if e["action"] == "pagerduty"] \
        == [(0, "page", "pagerduty", ["alice@company.com", "bob@company.com", "cto@company.com",
                                      "vp-eng@company.com"]),
            (300, "page", "pagerduty", ["charlie@company.com"])]


def test_check_asserts_the_expected_timeline(tmp_path: Path):
    ok = rules(str(ACKED), "--check")
    assert ok.returncode == 0, ok.stderr
    assert "1 passed, 0 failed" in ok.stderr
    broken = json.loads(ACKED.read_text())
    broken["expect"]["script"][0]["at"] = "+4m"  # the ack now comes after the backup's +3m step
    path = tmp_path / "late-ack.json"
    path.write_text(json.dumps(broken))
    bad = rules(str(path), "--check")
    assert bad.returncode == 1
    assert "timeline[2]: want {'at_seconds': 120.0, 'kind': 'acked'" in bad.stderr


def test_keyed_script_and_bad_script(tmp_path: Path):
    script = tmp_path / "keyed.json"
    script.write_text(json.dumps({"INC-2025-001": [{"at": 30, "resolve": "alice", "source": "pagerduty"}]}))
    run = rules(str(OUTAGE), "--script", str(script), "--format", "json")
    kinds = [(e["at_seconds"], e["kind"]) for e in json.loads(run.stdout)[0]["escalation"]["timeline"]]
    assert kinds == [(0, "page"), (0, "page"), (30, "resolved"), (300, "cancelled"), (300, "cancelled")]
    script.write_text(json.dumps([{"at": "soon", "ack": "bob"}]))
    bad = rules(str(OUTAGE), "--script", str(script))
    assert bad.returncode == 2 and "--script" in bad.stderr and "soon" in bad.stderr
