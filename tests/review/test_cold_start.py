"""Cold start of the CI commands: each imports only what it uses (the modules loaded, not the time taken).

Each case runs the ``rules`` entry point in a fresh interpreter and lists ``sys.modules`` at exit. The
timings themselves are measured by benchmarks/cold_start.py; this guards the cause of a slow start
(a module-level import of numpy, scikit-learn, boto3... in a module every command loads).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from core_util import ROOT

import engine.cli

# every command: none of these (a model trainer, cloud SDKs, charts, the report stack)
NEVER = {"sklearn", "scipy", "skops", "boto3", "botocore", "matplotlib", "rich", "prometheus_client", "httpx",
         "cryptography"}
LISTER = """
import atexit, json, sys
out = sys.argv[1]
atexit.register(lambda: open(out, "w").write(json.dumps(sorted(sys.modules))))
sys.argv = ["rules", *sys.argv[2:]]
from engine.cli import entry
entry()
"""


def loaded(tmp_path: Path, *args: str) -> set[str]:
    out = tmp_path / "modules.json"
    env = {k: v for k, v in os.environ.items() if k not in ("ESCALATION_DB", "ESCALATION_MODEL")}
    res = subprocess.run([sys.executable, "-c", LISTER, str(out), *args], cwd=ROOT, capture_output=True, text=True,
                         env={**env, "PYTHONPATH": str(ROOT)}, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    return set(json.loads(out.read_text()))


def packages(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


def test_validate_loads_neither_the_engine_nor_the_model_nor_jsonschema(tmp_path: Path) -> None:
    mods = loaded(tmp_path, "validate")
    assert not packages(mods) & (NEVER | {"numpy", "pydantic", "sqlite_utils", "durable", "durable_rules_engine",
                                          "jsonschema", "referencing", "rpds"})
    assert {m for m in mods if m.startswith("engine.cli.")} == {"engine.cli.validate", "engine.cli.options"}
    assert "jinja2" in mods  # templates are compiled and rendered in the sandbox: that is part of validating


def test_an_invalid_rule_file_is_explained_by_jsonschema(tmp_path: Path, rules_copy: Path) -> None:
    (rules_copy / "escalation-matrix.yaml").write_text("kind: escalation-matrix\nversion: 1\nbogus: 1\n")
    out = tmp_path / "modules.json"
    res = subprocess.run([sys.executable, "-c", LISTER, str(out), "validate", str(rules_copy)], cwd=ROOT,
                         capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
    assert res.returncode == 1 and "escalation-matrix.yaml:3:1" in res.stdout
    assert "jsonschema" in json.loads(out.read_text())


def test_simulate_of_one_event_loads_no_training_cloud_or_report_stack(tmp_path: Path) -> None:
    mods = loaded(tmp_path, "simulate", "sample-events/critical-service-outage.json")
    assert not packages(mods) & (NEVER | {"jsonschema"})
    assert {m for m in mods if m.startswith("engine.cli.")} == {"engine.cli.simulate", "engine.cli.options"}
    assert not {m for m in mods if m.startswith(("engine.store.ledger", "engine.report", "engine.run.daemon.")
                                                 ) and m != "engine.run.daemon.logs"}


def test_rules_test_loads_no_training_cloud_or_report_stack(tmp_path: Path) -> None:
    mods = loaded(tmp_path, "test", "--run", "^(monitor reports|an ack before)")
    assert not packages(mods) & NEVER
    assert {m for m in mods if m.startswith("engine.cli.")} == {"engine.cli.test", "engine.cli.options"}


def test_help_loads_every_command_and_a_command_only_its_own_module(tmp_path: Path) -> None:
    assert {m for m in loaded(tmp_path, "explain", "--help") if m.startswith("engine.cli.")} == {"engine.cli.explain"}
    mods = loaded(tmp_path, "--help")
    assert {f"engine.cli.{m}" for m in engine.cli.command_modules()} <= mods


def test_the_lazy_command_table_names_every_module_that_registers_each_command() -> None:
    engine.cli.import_all()
    registered: dict[str, set[str]] = {}
    for name, command in engine.cli.main.commands.items():
        parts = [command, *(command.commands.values() if isinstance(command, click.Group) else [])]
        registered[name] = {c.callback.__module__.rsplit(".", 1)[1] for c in parts if c.callback is not None}
    assert {name: set(modules) for name, modules in engine.cli.COMMANDS.items()} == registered


@pytest.mark.parametrize("name", ["validate", "audit"])
def test_a_command_is_found_by_name(name: str) -> None:
    command = engine.cli.main.get_command(click.Context(engine.cli.main), name)
    assert command is not None and command.name == name
