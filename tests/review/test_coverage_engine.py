"""Coverage is collected through the decider's observer hook, and the engine and the Python evaluator agree."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from review_util import CASE, RULES, rules

from engine.compiler.load import load_dir
from engine.decide import Decider
from engine.decide import classify as intelligence
from engine.model.event import Event
from engine.model.firing import Firing
from engine.run.review.coverage import LAST_STAGE, EngineCoverage


def _event(**fields: object) -> Event:
    return Event.model_validate({"event_id": "cov-1", "timestamp": "2025-03-01T10:00:00Z", "source": "test",
                                 "service": "payment-api", "title": "t", **fields})


def _collector(compiled: object) -> EngineCoverage:
    docs, _ = load_dir(RULES)
    return EngineCoverage(compiled, docs)  # type: ignore[arg-type]


def test_the_decider_feeds_the_collector_what_the_engine_chose(compiled: object) -> None:
    coverage = _collector(compiled)
    decider = Decider(compiled, model=intelligence.NO_MODEL, observer=coverage)  # type: ignore[arg-type]
    decision = decider.decide(_event(metrics={"availability": 0.4}))
    chosen = next(f.meta.name for f in decision.firings if f.selected and f.meta.stage == "severity")
    report = coverage.report()
    assert report["decisions"] == 1 and "disagreements" not in report
    decided = [r["rule"] for r in report["per_rule"] if r["decided"]]
    assert chosen in decided and chosen == "severity:service-unavailable"


def test_a_choice_the_python_evaluator_does_not_make_is_a_disagreement(compiled: object) -> None:
    coverage = _collector(compiled)
    seen = []
    decider = Decider(compiled, model=intelligence.NO_MODEL,  # type: ignore[arg-type]
                      observer=lambda stage, draft: seen.append(draft) if stage == LAST_STAGE else None)
    decider.decide(_event(metrics={"availability": 0.4}))
    draft = seen[0]
    other = next(f for f in draft.firings if f.selected and f.meta.stage == "severity")
    draft.firings = [Firing(replace(other.meta, name="severity:error-rate-elevated"), other.message, 0, True)]
    coverage(LAST_STAGE, draft)
    report = coverage.report()
    assert report["disagreements"] == ["cov-1: the engine chose severity severity:error-rate-elevated, "
                                       "the Python evaluator severity:service-unavailable"]


def test_rules_test_fails_on_a_disagreement_and_says_which(tmp_path: Path) -> None:
    """A rule the engine cannot match the way the Python evaluator does would show up here; with the
    shipped cases there is none (test_shipped_policy_is_fully_covered), so the hook is exercised on a case file."""
    (tmp_path / "x.test.yaml").write_text(CASE)
    res = rules("test", str(tmp_path / "x.test.yaml"), "--coverage", "--coverage-format", "json",
                "--coverage-out", str(tmp_path / "c.json"))
    assert res.returncode == 0, res.stderr
    assert "disagree" not in res.stderr and "disagreements" not in (tmp_path / "c.json").read_text()
