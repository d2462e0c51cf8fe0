"""Bad suppression files → Diagnostics at file:line:col; the shipped file validates."""

from __future__ import annotations

import shutil
from pathlib import Path

from engine.compiler.validate import validate

RULES = Path(__file__).resolve().parents[2] / "rules"


def _diags(tmp_path: Path, text: str) -> list:
    rules = tmp_path / "rules"
    rules.mkdir()
    for f in RULES.glob("*.yaml"):
        if f.name != "suppression.yaml":
            shutil.copy(f, rules / f.name)
    (rules / "suppression.yaml").write_text(text)
    policy, diags = validate(rules)
    errors = [d for d in diags if d.severity == "error"]
    assert policy is None and errors
    return errors


def test_bad_matcher_is_located(tmp_path):
    (d,) = _diags(tmp_path, 'kind: suppression\nversion: 1\nsilences:\n  - id: s\n    matchers: [\'service~"x"\']\n'
                            '    starts_at: 2025-01-01T00:00:00Z\n    ends_at: 2025-01-02T00:00:00Z\n'
                            '    author: a\n    reason: r\n')
    assert (d.code, d.line, d.col, d.pointer) == ("bad-matcher", 5, 16, "/silences/0/matchers/0")


def test_bad_regex_and_unknown_field(tmp_path):
    diags = _diags(tmp_path, "kind: suppression\nversion: 1\ninhibit:\n  - id: i\n"
                             "    source: ['severity=~\"(\"']\n    target: ['colour=\"red\"']\n")
    assert {(d.code, d.line) for d in diags} == {("bad-matcher-regex", 5), ("unknown-matcher-field", 6)}


def test_unknown_mechanism(tmp_path):
    (d,) = _diags(tmp_path, "kind: suppression\nversion: 1\nenabled: [dedup, dedupe]\ndedup: {window: 5m}\n")
    assert d.code == "schema-enum" and (d.line, d.pointer) == (3, "/enabled/1")


def test_negative_windows(tmp_path):
    diags = _diags(tmp_path, "kind: suppression\nversion: 1\ndedup:\n  window: -5m\nflap:\n  window: 10m\n"
                             "  max_transitions: 2\n  hold_down: -1\n")
    assert {(d.code, d.line, d.col) for d in diags} == {("negative-window", 4, 11), ("negative-window", 8, 14)}


def test_silence_ending_before_it_starts(tmp_path):
    (d,) = _diags(tmp_path, "kind: suppression\nversion: 1\nsilences:\n  - id: s\n    matchers: []\n"
                            "    starts_at: 2025-01-02T00:00:00Z\n    ends_at: 2025-01-01T00:00:00Z\n"
                            "    author: a\n    reason: r\n")
    assert (d.code, d.line) == ("silence-ends-before-start", 7)


def test_shipped_file_validates():
    policy, diags = validate(RULES)
    assert policy is not None and policy.suppression is not None
    assert {"dedup", "group", "inhibit", "silence", "maintenance", "fusion"} <= policy.suppression.enabled
