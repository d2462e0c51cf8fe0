"""A wheel carries the shipped policy, schemas, model and corpus, and the engine finds them installed."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from core_util import ROOT

from engine import resources


def test_wheel_installs_the_shipped_folders_as_data_files(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
                   check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("escalation_handlers-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    share = f"escalation_handlers-0.1.0.data/data/{resources.SHARE}"
    for folder, pattern in (("rules", "*.yaml"), ("rules/tests", "*.test.yaml"), ("schemas", "*.json"),
                            ("schemas/actions", "*.json"),
                            ("models", "*"), ("data/corpus", "*.jsonl")):
        shipped = {p.name for p in (ROOT / folder).glob(pattern) if p.is_file()}
        assert shipped and {n for n in shipped if f"{share}/{folder}/{n}" in names} == shipped, folder
    assert "engine/intake/__init__.py" in names and "actions/pagerduty.py" in names
    assert any(n.startswith("engine/store/_sealc.") and n.endswith(".so") for n in names)  # the ledger's C hashing


def test_resources_are_found_under_the_install_prefix(tmp_path: Path, monkeypatch) -> None:
    installed = tmp_path / resources.SHARE / "rules"
    installed.mkdir(parents=True)
    monkeypatch.setattr(resources, "CHECKOUT", tmp_path / "no-checkout")
    monkeypatch.setattr(resources.sysconfig, "get_paths", lambda: {"data": str(tmp_path)})
    assert resources.resource("rules") == installed
    assert resources.resource("schemas") == tmp_path / "no-checkout" / "schemas"  # missing: the path looked at
