"""`rules test`: cases beside the rules, PASS/FAIL/ERROR with a diff, formats, --run, exit codes."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

from review_util import CASE, RULES, SAMPLES, rules


def test_shipped_policy_cases_pass() -> None:
    res = rules("test")
    assert res.returncode == 0, res.stdout + res.stderr
    last = res.stdout.strip().splitlines()[-1]
    passed, failed = (int(x.split()[0]) for x in last.split(", "))
    assert failed == 0 and passed >= 37, last


def test_a_failing_case_gives_the_diff_and_exit_1(tmp_path: Path) -> None:
    bad = CASE.replace("expect: {severity: MODERATE, rule: error-rate-elevated, channels: [slack]}",
                       "expect: {severity: MAJOR, rule: error-rate-high, channels: [slack, email]}")
    (tmp_path / "x.test.yaml").write_text(bad)
    res = rules("test", str(tmp_path), "--rules", str(RULES))
    assert res.returncode == 1
    out = res.stdout.splitlines()
    assert out == [
        f"FAIL {tmp_path / 'x.test.yaml'}:9 error rate one percent is moderate",
        "    error-rate-one-percent-is-moderate-1: severity: want 'MAJOR', have 'MODERATE'",
        "    error-rate-one-percent-is-moderate-1: rule: want 'error-rate-high', have 'error-rate-elevated'",
        "    error-rate-one-percent-is-moderate-1: channels: want ['email', 'slack'], have ['slack']",
        "1 passed, 1 failed",
    ]


def test_malformed_case_is_an_error_at_its_line(tmp_path: Path) -> None:
    (tmp_path / "x.test.yaml").write_text(CASE.replace("    events:\n      - {service: payment-api, metrics: "
                                                       "{error_rate: 0.01}}\n", "    evnts: []\n"))
    res = rules("test", str(tmp_path), "--rules", str(RULES))
    assert res.returncode == 1
    assert res.stdout.splitlines()[0].startswith(f"ERROR {tmp_path / 'x.test.yaml'}:9 ")
    assert "x.test.yaml:9:5: /cases/1: Additional properties are not allowed ('evnts' was unexpected)" in res.stdout
    assert res.stdout.strip().splitlines()[-1] == "0 passed, 1 failed"


def test_rejected_event_is_an_error_not_a_pass(tmp_path: Path) -> None:
    (tmp_path / "x.test.yaml").write_text(CASE.replace("metrics: {availability: 0.4}", "metrcis: {availability: 0.4}"))
    res = rules("test", str(tmp_path), "--rules", str(RULES))
    assert res.returncode == 1
    assert "ERROR" in res.stdout and "rejected" in res.stdout and "metrcis" in res.stdout


def test_run_selects_cases_by_regex(tmp_path: Path) -> None:
    (tmp_path / "x.test.yaml").write_text(CASE)
    res = rules("test", str(tmp_path), "--rules", str(RULES), "--run", "availability", "-v")
    assert res.returncode == 0
    assert res.stdout.splitlines() == [f"PASS {tmp_path / 'x.test.yaml'}:5 availability below one half is critical",
                                       "1 passed, 0 failed"]
    none = rules("test", str(tmp_path), "--rules", str(RULES), "--run", "^nothing$")
    assert none.returncode == 1 and none.stderr.strip() == "error: no test cases found matching --run"


def test_junit_json_and_github_formats(tmp_path: Path) -> None:
    (tmp_path / "x.test.yaml").write_text(CASE.replace("severity: CRITICAL,", "severity: MAJOR,"))
    junit = rules("test", str(tmp_path), "--rules", str(RULES), "--format", "junit")
    assert junit.returncode == 1
    root = ET.fromstring(junit.stdout)
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("2", "1", "0")
    failure = root.find("testsuite/testcase/failure")
    assert failure is not None and "severity: want 'MAJOR', have 'CRITICAL'" in failure.get("message", "")
    doc = json.loads(rules("test", str(tmp_path), "--rules", str(RULES), "--format", "json").stdout)
    assert (doc["passed"], doc["failed"]) == (1, 1)
    assert [c["status"] for c in doc["cases"]] == ["FAIL", "PASS"]
    gh = rules("test", str(tmp_path), "--rules", str(RULES), "--format", "github").stdout.splitlines()
    assert gh[0].startswith(f"::error file={tmp_path / 'x.test.yaml'},line=5,title=rules test FAIL%3A availability")
    assert gh[-1] == "1 passed, 1 failed"


def test_expect_blocks_in_event_files_run_as_cases(tmp_path: Path) -> None:
    shutil.copy(SAMPLES / "suppression" / "inhibition.json", tmp_path / "pair.json")
    ok = rules("test", str(tmp_path), "--rules", str(RULES))
    assert ok.returncode == 0 and ok.stdout.strip() == "1 passed, 0 failed"
    events = json.loads((tmp_path / "pair.json").read_text())
    events[1]["expect"]["severity"] = "CRITICAL"
    (tmp_path / "pair.json").write_text(json.dumps(events))
    bad = rules("test", str(tmp_path), "--rules", str(RULES))
    assert bad.returncode == 1
    assert "    SUP-INHIBIT-2: severity: want 'CRITICAL', have 'MODERATE'" in bad.stdout.splitlines()


def test_sequence_and_script_on_the_virtual_clock(tmp_path: Path) -> None:
    case = """\
kind: tests
version: 1
model: none
cases:
  - name: ack at +4m stops the backup page at +5m
    events:
      - {service: payment-api, conditions: {service_unavailable: true}}
    script: [{at: "+4m", ack: alice@company.com}]
    expect:
      timeline:
        - {at_seconds: 0, kind: page, action: pagerduty, step: 0}
        - {at_seconds: 0, kind: page, action: slack, step: 0}
        - {at_seconds: 240, kind: acked, by: alice@company.com}
        - {at_seconds: 240, kind: acknowledge, action: pagerduty}
        - {at_seconds: 300, kind: page, action: pagerduty, step: 1}
"""
    (tmp_path / "t.test.yaml").write_text(case)
    res = rules("test", str(tmp_path), "--rules", str(RULES))
    assert res.returncode == 1  # the +5m steps are cancelled, not paged
    assert ("    ack-at-4m-stops-the-backup-page-at-5m-1: timeline[4]: want {'at_seconds': 300.0, 'kind': 'page', "
            "'action': 'pagerduty', 'step': 1}, have {'at_seconds': 300, 'kind': 'cancelled'") in res.stdout


def test_test_files_are_not_rule_files(tmp_path: Path) -> None:
    root = tmp_path / "rules"
    shutil.copytree(RULES, root)
    (root / "tests" / "broken.test.yaml").write_text("kind: nonsense\n")
    res = rules("validate", str(root))
    assert res.returncode == 0, res.stdout
