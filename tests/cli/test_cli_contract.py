"""The `rules` command's interface contract: options every command takes, output formats, exit codes."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from core_util import ROOT, RULES, SAMPLES

from engine.model.diagnostics import Diagnostic
from engine.run.daemon.http import parse_listen

ENV = {k: v for k, v in os.environ.items() if k not in ("ESCALATION_DB", "ESCALATION_MODEL")}


def rules(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], capture_output=True, text=True, timeout=120,
                          cwd=cwd or ROOT, env={**ENV, "PYTHONPATH": str(ROOT), **(env or {})})


def test_github_annotation_escapes_property_values_and_message() -> None:
    d = Diagnostic("rules,v2/a:b.yaml", 3, 7, "bad-regex", "100% wrong\r\nsecond line", pointer="/rules/0",
                   want=["x", "y"], hint="see the docs")
    assert d.github() == ("::error file=rules%2Cv2/a%3Ab.yaml,line=3,col=7,title=bad-regex::"
                          "/rules/0: 100%25 wrong%0D%0Asecond line (want one of x, y) — see the docs")


def test_validate_github_format_on_a_path_with_comma_and_colon(tmp_path: Path) -> None:
    root = tmp_path / "a,b:c"
    shutil.copytree(RULES, root)
    sev = root / "severity.yaml"
    sev.write_text(sev.read_text().replace("- metrics.availability: {lt: 0.5}", '- title: {matches: "100%("}', 1))
    res = rules("validate", "a,b:c", "--format", "github", cwd=tmp_path)
    assert res.returncode == 1
    (line,) = [x for x in res.stdout.splitlines() if x.startswith("::error ")]
    assert line.startswith("::error file=a%2Cb%3Ac/severity.yaml,line=")
    props, message = line[len("::error "):].split("::", 1)
    assert [p.split("=")[0] for p in props.split(",")] == ["file", "line", "col", "title"]
    assert "invalid regex '100%25('" in message


def test_validate_missing_directory_is_one_error() -> None:
    res = rules("validate", "--rules", "no-such-rules-dir")
    assert res.returncode == 1
    assert res.stdout.splitlines() == [
        "no-such-rules-dir:1:1: error[no-rules] rules directory no-such-rules-dir does not exist"]


def test_simulate_check_counts_events_not_files(tmp_path: Path) -> None:
    events = json.loads((SAMPLES / "suppression" / "inhibition.json").read_text())
    assert len(events) == 2 and all(e.get("expect") for e in events)
    events[1]["expect"]["severity"] = "CRITICAL"
    (tmp_path / "pair.json").write_text(json.dumps(events))
    (tmp_path / "zz-broken.json").write_text("{not json")
    res = rules("simulate", str(tmp_path), "--check", "--rules", str(RULES))
    assert res.returncode == 1
    fails = [x for x in res.stderr.splitlines() if x.startswith("FAIL ")]
    assert fails == [f"FAIL {tmp_path / 'pair.json'}: SUP-INHIBIT-2: severity: want 'CRITICAL', have 'MODERATE'",
                     f"FAIL {tmp_path / 'zz-broken.json'}: rejected: invalid JSON at line 1 column 2: "
                     "Expecting property name enclosed in double quotes"]
    assert res.stderr.strip().splitlines()[-1] == "1 passed, 2 failed"


def test_simulate_json_reports_rejected_files_on_stderr(tmp_path: Path) -> None:
    shutil.copy(SAMPLES / "moderate-degradation.json", tmp_path / "a.json")
    (tmp_path / "b.json").write_text("{not json")
    res = rules("simulate", str(tmp_path), "--format", "json", "--rules", str(RULES))
    assert res.returncode == 1, res.stderr  # bad input said by the exit code too; the good file still decided
    assert [d["event_id"] for d in json.loads(res.stdout)] == ["INC-2025-003"]
    assert f"{tmp_path / 'b.json'}: rejected: invalid JSON" in res.stderr


def test_script_yaml_error_is_one_line(tmp_path: Path) -> None:
    script = tmp_path / "s.yaml"
    script.write_text("a: [\n")
    res = rules("simulate", str(SAMPLES / "moderate-degradation.json"), "--script", str(script))
    assert res.returncode == 2
    assert res.stderr.strip().splitlines()[-1] == (
        f"Error: Invalid value for --script: {script}:2:1: invalid YAML: expected the node content, "
        "but found '<stream end>'")


@pytest.mark.parametrize("command", [["validate"], ["simulate", "sample-events/moderate-degradation.json"],
                                     ["run", "--once"], ["train"], ["evaluate"], ["confirm"], ["test"],
                                     ["explain", "sample-events/moderate-degradation.json"], ["impact"],
                                     ["analyze"]])
def test_every_command_takes_rules_and_db(command: list[str]) -> None:
    res = rules(*command, "--help")
    assert res.returncode == 0, res.stderr
    assert "--rules DIR" in res.stdout and "--db" in res.stdout and "ESCALATION_DB" in res.stdout


def test_confirm_with_a_missing_db_creates_nothing(tmp_path: Path) -> None:
    db = tmp_path / "typo" / "audit.db"
    res = rules("confirm", "INC-2025-001", "--severity", "MAJOR", "--by", "me", "--db", str(db),
                "--rules", str(RULES))
    assert res.returncode == 3
    assert res.stderr.strip() == f"error: no audit log at {db} (pass --db or set ESCALATION_DB)"
    assert not db.parent.exists()


@pytest.mark.parametrize("args", [["timeline", "INC-1"], ["audit", "verify"], ["audit", "firings"], ["audit", "rollup"],
                                  ["history", "latest"], ["history", "prune", "--older-than", "90d"], ["metrics"],
                                  ["anomalies", "trends"], ["anomalies", "score"], ["incidents"],
                                  ["incident", "show", "INC-1"], ["ack", "INC-1", "--by", "me"],
                                  ["impact", "--baseline", str(RULES)]])
def test_every_reader_of_a_missing_log_says_so_alike(tmp_path: Path, args: list[str]) -> None:
    """One line, one wording, exit 3 (a runtime failure), and no empty log created, whichever command reads it."""
    db = tmp_path / "typo.db"
    res = rules(*args, "--db", str(db))
    assert (res.returncode, res.stderr.strip()) == (3, f"error: no audit log at {db} (pass --db or set ESCALATION_DB)")
    assert not db.exists()


def test_parse_listen_rejects_malformed_addresses() -> None:
    assert parse_listen("127.0.0.1:9095") == ("127.0.0.1", 9095)
    assert parse_listen("[::1]:0") == ("::1", 0)
    assert parse_listen(":9095") == ("127.0.0.1", 9095)
    for bad in ("nonsense", "127.0.0.1", "host:port", "127.0.0.1:70000", "127.0.0.1:-1"):
        with pytest.raises(ValueError, match="HOST:PORT"):
            parse_listen(bad)


def test_run_listen_errors_are_one_line(tmp_path: Path) -> None:
    args = ("run", "--db", str(tmp_path / "a.db"), "--spool", str(tmp_path / "spool"), "--rules", str(RULES))
    bad = rules(*args, "--listen", "nonsense")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "Invalid value for '--listen': 'nonsense' is not HOST:PORT" in bad.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = rules(*args, "--listen", f"127.0.0.1:{port}")
    assert busy.returncode == 3 and "Traceback" not in busy.stderr
    assert busy.stderr.strip().splitlines()[-1].startswith(f"error: cannot listen on 127.0.0.1:{port}: ")


def test_an_empty_keys_file_is_said_so(tmp_path: Path) -> None:
    from engine.store.audit import Audit

    Audit(tmp_path / "x.db").close()
    (tmp_path / "empty.keys").write_text("# nothing yet\n")
    res = rules("audit", "verify", "--keys", str(tmp_path / "empty.keys"), "--db", str(tmp_path / "x.db"))
    assert res.returncode == 2 and "empty.keys: no verifier keys in it" in res.stderr and "Traceback" not in res.stderr
