"""Matcher and condition regexes have RE2 semantics: linear-time matching, and validate rejects what RE2 rejects."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engine.compiler.validate import validate

RULES = Path(__file__).resolve().parents[2] / "rules"
# Catastrophic for a backtracking engine: ([a-z]+ ?)+ against "a"*40 + "!" takes ~2^40 steps in Python's re.
POISON_SILENCE = """kind: suppression
version: 1
silences:
  - id: hostile
    matchers: ['title=~"([a-z]+ ?)+"']
    starts_at: 2000-01-01T00:00:00Z
    ends_at: 2000-01-02T00:00:00Z
    author: mallory@company.com
    reason: expired long ago, still evaluated
"""


def policy_with(tmp_path: Path, suppression: str) -> Path:
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    (rules / "suppression.yaml").write_text(suppression)
    return rules


def test_a_backtracking_pattern_decides_the_event_at_once(tmp_path: Path) -> None:
    """Run as a subprocess: a backtracking engine would hold the GIL for hours; RE2 answers in microseconds."""
    rules = policy_with(tmp_path, POISON_SILENCE)
    event = {"event_id": "poison-1", "timestamp": "2025-01-06T10:00:00Z", "service": "payment-api",
             "source": "test", "title": "a" * 40 + "!", "metrics": {"error_rate": 0.3}}
    (tmp_path / "event.json").write_text(json.dumps(event))
    done = subprocess.run([sys.executable, "-m", "engine.cli", "simulate", str(tmp_path / "event.json"),
                           "--rules", str(rules), "--db", str(tmp_path / "sim.db"), "--format", "json"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stderr
    assert "poison-1" in done.stdout


@pytest.mark.parametrize("pattern, reason", [
    (r"(a)\\1", "invalid escape sequence"),       # back-reference
    (r"(?=a)b", "invalid perl operator"),               # look-ahead
    (r"a{1001}", "invalid repetition size"),            # RE2's repetition bound
])
def test_validate_rejects_what_re2_rejects_in_a_matcher(tmp_path: Path, pattern: str, reason: str) -> None:
    rules = policy_with(tmp_path, POISON_SILENCE.replace("([a-z]+ ?)+", pattern))
    _, diags = validate(rules)
    (err,) = [d for d in diags if d.severity == "error"]
    assert err.code == "bad-matcher-regex" and reason in err.message
    assert err.file.endswith("suppression.yaml") and err.line == 5


def test_validate_rejects_what_re2_rejects_in_a_condition(tmp_path: Path) -> None:
    rules = policy_with(tmp_path, POISON_SILENCE)
    path = rules / "severity.yaml"
    text = path.read_text()
    path.write_text(text.replace("  - id:", "  - id: odd-title\n    severity: NONE\n    when:\n"
                                 "      title: {matches: \"a{2000}\"}\n  - id:", 1))
    _, diags = validate(rules)
    errs = [d for d in diags if d.severity == "error"]
    assert [e.code for e in errs] == ["bad-regex"] and "invalid repetition size" in errs[0].message
