"""The suppression sample events pass ``rules simulate --check`` with the shipped policy."""

from __future__ import annotations

from pathlib import Path

from engine.compiler.compile import compile_policy
from engine.compiler.validate import validate
from engine.run.simulate import render_text, simulate

ROOT = Path(__file__).resolve().parents[2]


def test_samples_show_each_mechanism_and_meet_their_expectations():
    policy, _ = validate(ROOT / "rules")
    outcomes = simulate(compile_policy(policy), [ROOT / "sample-events" / "suppression"])
    assert all(o.checked and not o.mismatches and not o.error for o in outcomes), [o.mismatches for o in outcomes]
    text = render_text(outcomes)
    for mechanism in ("[dedup]", "[group]", "[inhibit]", "[silence]", "[maintenance]", "resolved-unknown"):
        assert mechanism in text
