"""Regressions found by fuzzing rule files, event files and `rules run` flags: each input gets a clear
diagnostic or usage error, never a stack trace or a silently skipped event."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from core_util import ROOT, SAMPLES

from engine.compiler.compile import compile_policy
from engine.compiler.load import load_bytes
from engine.compiler.validate import validate
from engine.run.simulate import simulate
from engine.store.audit import to_json

CLEAN_ENV = {k: v for k, v in os.environ.items()
             if not k.startswith(("PAGERDUTY", "OPSGENIE", "SLACK", "TEAMS", "SMTP", "SENDGRID", "EMAIL", "AWS"))}
OUTAGE = SAMPLES / "critical-service-outage.json"


def rules(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], capture_output=True, text=True, timeout=120,
                          cwd=cwd or ROOT, env=CLEAN_ENV)


def errors(root: Path) -> list:
    policy, diags = validate(root)
    errs = [d for d in diags if d.severity == "error"]
    assert (policy is None) == bool(errs)
    return errs


# --- rule files ------------------------------------------------------------------------------

def test_small_float_threshold_compiles_and_decides(rules_copy, edit) -> None:
    # json.dumps writes 0.00001 as 1e-05, which durable-rules' parser rejected: error 204 at simulate/run time
    edit("severity.yaml", "derived.healthy_host_ratio: {lt: 0.5}", "derived.healthy_host_ratio: {lt: 0.00001}")
    policy, _ = validate(rules_copy)
    assert policy is not None
    [outcome] = simulate(compile_policy(policy), [OUTAGE])
    assert not outcome.error and outcome.decisions[0]["severity"] == "CRITICAL"


@pytest.mark.parametrize("written, value", [("1e-5", 1e-05), ("5E-1", 0.5), ("-2e+0", -2.0), ("1.0e-05", 1e-05)])
def test_exponent_without_a_dot_is_a_number(written: str, value: float) -> None:
    # YAML 1.1 (PyYAML) reads 1e-5 as the string '1e-5' ("is not a number"); YAML 1.2 and JSON read a float
    text = f"kind: severity\nrules:\n  - when: {{error_rate: {{gte: {written}}}}}\n"
    doc, diags = load_bytes(text.encode(), "x.yaml")
    assert doc is not None and not diags
    assert doc.data["rules"][0]["when"]["error_rate"]["gte"] == value
    doc, _ = load_bytes(f"kind: severity\nname: '{written}'\nother: {written}x\n".encode(), "x.yaml")
    assert doc is not None and doc.data["name"] == written and doc.data["other"] == f"{written}x"  # text stays text


def test_an_exponent_float_decides_like_its_decimal_form(rules_copy, edit) -> None:
    edit("severity.yaml", "derived.healthy_host_ratio: {lt: 0.5}", "derived.healthy_host_ratio: {lt: 5e-1}")
    policy, _ = validate(rules_copy)
    assert policy is not None
    [outcome] = simulate(compile_policy(policy), [OUTAGE])
    assert not outcome.error and outcome.decisions[0]["severity"] == "CRITICAL"


@pytest.mark.parametrize("value", [".inf", ".nan"])
def test_non_finite_threshold_is_a_diagnostic(rules_copy, edit, value: str) -> None:
    edit("severity.yaml", "derived.healthy_host_ratio: {lt: 0.5}", f"derived.healthy_host_ratio: {{lt: {value}}}")
    [err] = errors(rules_copy)
    assert err.code == "value-type" and "not a finite number" in err.message
    assert err.pointer.endswith("/derived.healthy_host_ratio/lt")


@pytest.mark.parametrize("value", [".inf", ".nan", "1" + "0" * 400])
def test_non_finite_suppression_window_is_a_diagnostic(rules_copy, edit, value: str) -> None:
    edit("suppression.yaml", "dedup:\n  window: 5m", f"dedup:\n  window: {value}")
    [err] = errors(rules_copy)
    assert err.code == "bad-duration" and err.pointer == "/dedup/window"


@pytest.mark.parametrize("fact", ['"3h"', "1000000000000000000000000000000", "[1, 2]"])
def test_template_of_the_wrong_shape_for_its_adapter_is_a_diagnostic(rules_copy, edit, fact: str) -> None:
    # before: validate passed; the teams adapter raised AttributeError at simulate (traceback) or send time
    edit("templates.yaml", '        - {title: Owner, value: "{{ owner.team }}"}', f"        - {fact}")
    [err] = errors(rules_copy)
    assert err.code == "template-shape" and err.pointer == "/templates/teams/default"
    assert err.file.endswith("templates.yaml") and err.line > 1


def test_audit_json_keeps_integers_beyond_64_bits() -> None:
    # a rule's template or params may hold one; orjson refuses it (TypeError in the middle of a decision)
    assert json.loads(to_json({"n": 10**30, "x": [float("nan")]})) == {"n": 10**30, "x": [None]}


# --- event files -----------------------------------------------------------------------------

def test_simulate_check_on_an_event_with_an_unhashable_event_id(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"event_id": ["a"], "expect": {"severity": "CRITICAL"}}))
    res = rules("simulate", str(bad), "--check")
    assert "Traceback" not in res.stderr, res.stderr  # before: TypeError: unhashable type: 'list'
    assert res.returncode == 1
    assert f"FAIL {bad}: rejected: schema: /event_id" in res.stderr


def test_run_quarantines_an_out_of_range_timestamp_as_schema(tmp_path: Path) -> None:
    event = json.loads(OUTAGE.read_text())
    event.pop("expect")
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(event))
    bad.write_text(json.dumps({**event, "event_id": "far", "timestamp": "9999-12-31T23:59:59-12:00"}))
    spool = tmp_path / "spool"
    res = rules("run", "--once", "--db", str(tmp_path / "a.db"), "--spool", str(spool),
                "--enqueue", str(good), "--enqueue", str(bad))
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr  # before: engine-failure + traceback
    assert "1 file(s) done, 1 failed, 1 decision(s)" in res.stdout  # the good one decided, the bad one rejected
    reason = json.loads((spool / "failed" / "bad.json.reason.json").read_text())
    assert reason["code"] == "schema" and "out of range" in reason["reason"]


# --- `rules run` flags -----------------------------------------------------------------------

@pytest.mark.parametrize("flag", [["--batch", "0"], ["--batch", "-1"], ["--max-event-bytes", "0"],
                                  ["--retention-days", "-1"], ["--interval", "0"]])
def test_run_rejects_option_values_that_would_skip_or_lose_events(tmp_path: Path, flag: list[str]) -> None:
    # before: --batch 0 drained nothing and exited 0; --max-event-bytes 0 quarantined every file;
    # --retention-days -1 deleted every done/ file at once
    res = rules("run", "--once", "--db", str(tmp_path / "a.db"), "--spool", str(tmp_path / "spool"),
                "--enqueue", str(OUTAGE), *flag)
    assert res.returncode == 2 and f"Invalid value for '{flag[0]}'" in res.stderr, res.stderr
    assert not (tmp_path / "a.db").exists()


def test_run_with_an_unusable_spool_path_is_a_usage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    res = rules("run", "--once", "--db", str(tmp_path / "a.db"), "--spool", str(blocker))
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    assert "Invalid value for --spool: cannot create" in res.stderr
