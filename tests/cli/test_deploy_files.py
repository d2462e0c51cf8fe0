"""The shipped deployment files run what the README says, and the small CLI promises of issue 18.7."""

from __future__ import annotations

import configparser
import os
import subprocess
import sys
from pathlib import Path

import click
from core_util import ROOT

from engine.cli import main


def rules(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from engine.cli import entry; entry()", *args], capture_output=True,
                          text=True, timeout=120, cwd=cwd, env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_systemd_unit_runs_the_daemon_after_a_strict_preflight() -> None:
    unit = configparser.ConfigParser(interpolation=None, strict=False)
    unit.read(ROOT / "deploy/escalation-handlers.service")
    service = unit["Service"]
    assert service["ExecStartPre"].split()[1:3] == ["validate", "--strict"]
    start = service["ExecStart"].replace("\\\n", " ").split()
    assert start[1] == "run" and "--db" in start and "--spool" in start
    args = start[2:]
    run = main.get_command(click.Context(main), "run")
    assert run is not None
    ctx = run.make_context("run", args)  # every option the unit passes exists
    assert ctx.params["db"] == "/var/lib/escalation/audit.db"
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"


def test_containerfile_entrypoint_is_the_rules_command() -> None:
    text = (ROOT / "deploy/Containerfile").read_text()
    assert 'ENTRYPOINT ["rules"]' in text and '"run", "--rules", "/etc/escalation/rules"' in text


def test_version_and_a_mistyped_db_directory(tmp_path: Path) -> None:
    version = rules("--version", cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("rules ")
    typo = rules("run", "--once", "--db", str(tmp_path / "vra/lib/audit.db"), "--spool", str(tmp_path / "s"),
                 cwd=tmp_path)
    assert typo.returncode == 2
    assert f"directory {tmp_path / 'vra/lib'} does not exist (a typo? pass --init to create it)" in typo.stderr
    assert not (tmp_path / "vra").exists()
    made = rules("run", "--once", "--init", "--db", str(tmp_path / "new/audit.db"), "--spool", str(tmp_path / "s"),
                 cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "new/audit.db").is_file()
