"""rules validate on the on-call schedule: each bad case is one diagnostic at the exact file:line:col."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.compiler.validate import validate
from engine.model import diagnostics

SEED = '''    primary: ["alice@company.com", "bob@company.com"]
    backup: ["charlie@company.com"]
    escalation_delay: 300  # 5 minutes
'''


def team(extra: str) -> tuple[str, str]:
    return SEED, SEED + extra


def override(who: str = "dave@company.com", covers: str = "bob@company.com", start: str = "2025-01-14T00:00:00Z",
             end: str = "2025-01-15T00:00:00Z") -> str:
    return f'      - {{who: "{who}", covers: "{covers}", start: "{start}", end: "{end}"}}\n'


def locate(text: str, needle: str, nth: int = 1) -> tuple[int, int]:
    index = -1
    for _ in range(nth):
        index = text.index(needle, index + 1)
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


CASES = [
    # (id, edit of escalation-matrix.yaml, code, severity, what the location points at, nth occurrence)
    ("unknown-team", ("  checkout-web: frontend\n", "  checkout-web: frontendd\n"), "unknown-team", "error",
     "frontendd", 1),
    ("empty-primary", ('    primary: ["dave@company.com"]\n', "    primary: []\n"), "schema-minItems", "error",
     "[]", 1),
    ("negative-delay", ("    escalation_delay: 180", "    escalation_delay: -5"), "schema-minimum", "error", "-5", 1),
    ("person-in-no-team", team("    overrides:\n" + override(who="mallory@company.com")), "person-in-no-team",
     "error", '"mallory@company.com"', 1),
    ("rotation-gap", team('    rotation: {members: ["alice@company.com"], handoff: "mon 09:00", '
                          'start: "2025-01-08T00:00:00Z"}\n'), "rotation-gap", "error", '"2025-01-08T00:00:00Z"', 1),
    ("overlapping-overrides", team("    overrides:\n" + override() + override(
        who="eve@company.com", start="2025-01-14T12:00:00Z", end="2025-01-16T00:00:00Z")),
     "overlapping-overrides", "error", '"2025-01-14T12:00:00Z"', 1),
    ("unparseable-time", team("    overrides:\n" + override(start="next tuesday")), "bad-time", "error",
     '"next tuesday"', 1),
    ("empty-override", team("    overrides:\n" + override(end="2025-01-13T00:00:00Z")), "override-empty", "error",
     '"2025-01-13T00:00:00Z"', 1),
    ("service-without-owner", ("  search-api: frontend\n", "  search-api: ~\n"), "service-without-owner", "warning",
     "~", 1),
]


@pytest.mark.parametrize(("edit", "code", "severity", "needle", "nth"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_bad_schedule_is_reported_at_its_file_line_col(policy_copy, edit, code, severity, needle, nth):
    root: Path = policy_copy(**{"escalation-matrix": edit})
    policy, diags = validate(root)
    ours = [d for d in diags if d.code == code]
    assert len(ours) == 1, diags
    d = ours[0]
    text = (root / "escalation-matrix.yaml").read_text()
    assert (Path(d.file).name, d.line, d.col, d.severity) == ("escalation-matrix.yaml", *locate(text, needle, nth),
                                                                severity)
    assert (policy is None) == (severity == "error")
    rendered = diagnostics.render([d])
    assert f"escalation-matrix.yaml:{d.line}:{d.col}: {severity}[{code}]" in rendered


def test_shipped_schedule_has_no_oncall_problems():
    root = Path(__file__).resolve().parents[2] / "rules"
    _, diags = validate(root)
    codes = {c[2] for c in CASES}
    assert [d for d in diags if d.code in codes] == []
