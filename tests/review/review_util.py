"""Helpers for the rule-review tests: run `rules` as a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "rules"
SAMPLES = ROOT / "sample-events"
ENV = {k: v for k, v in os.environ.items() if k not in ("ESCALATION_DB", "ESCALATION_MODEL")}


def rules(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], capture_output=True, text=True, timeout=300,
                          cwd=cwd or ROOT, env={**ENV, "PYTHONPATH": str(ROOT), **(env or {})})


CASE = """\
kind: tests
version: 1
model: none
cases:
  - name: availability below one half is critical
    events:
      - {service: payment-api, metrics: {availability: 0.4}}
    expect: {severity: CRITICAL, rule: service-unavailable, owner: backend}
  - name: error rate one percent is moderate
    events:
      - {service: payment-api, metrics: {error_rate: 0.01}}
    expect: {severity: MODERATE, rule: error-rate-elevated, channels: [slack]}
"""
