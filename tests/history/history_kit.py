"""Helpers of the history tests: ``rules`` as a subprocess (imported by name: conftest.py is not unique)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAFE_ENV = {k: v for k, v in os.environ.items()
            if not k.endswith(("_URL", "_KEY", "_TOKEN", "_FROM", "_REGION", "_PROFILE")) and not k.startswith("AWS_")
            and not k.startswith("ESCALATION_")}


def rules(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``rules …`` as a real subprocess (stdout and stderr captured; no credentials in its environment)."""
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], cwd=cwd or ROOT, capture_output=True,
                          text=True, env={**SAFE_ENV, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})},
                          timeout=300)
