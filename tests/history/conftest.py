from __future__ import annotations

from pathlib import Path

import pytest
from history_gen import Incident, generate
from history_kit import ROOT, rules


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Incident]]:
    path = tmp_path_factory.mktemp("gen") / "audit.db"
    return path, generate(path, 3000)


@pytest.fixture(scope="session")
def sample_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The audit log of ``rules run --once`` over the shipped sample events."""
    work = tmp_path_factory.mktemp("samples")
    res = rules("run", "--once", "--enqueue", str(ROOT / "sample-events"), "--rules", str(ROOT / "rules"),
                "--db", str(work / "escalation.db"), "--spool", str(work / "spool"), cwd=work)
    assert res.returncode == 0, res.stderr
    return work / "escalation.db"
