from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from history_gen import Incident, generate  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SAFE_ENV = {k: v for k, v in os.environ.items()
            if not k.endswith(("_URL", "_KEY", "_TOKEN", "_FROM", "_REGION", "_PROFILE")) and not k.startswith("AWS_")}


def rules(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``rules …`` as a real subprocess (stdout and stderr captured; no credentials in its environment)."""
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], cwd=cwd or ROOT, capture_output=True,
                          text=True, env={**SAFE_ENV, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})},
                          timeout=300)


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
