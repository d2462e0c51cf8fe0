"""Text conditions (``matches``, ``contains``) on the shipped policy: the engine decides what ``rules explain``
and coverage say it decides. durable-rules' own regex engine missed titles such as "Checkout Degraded" for
``.*[Dd]egrad.*`` while the Python evaluator (RE2) matched them: nobody was paged, every review tool said
someone would be."""

from __future__ import annotations

import pytest
from core_util import RULES

from engine.cli.options import load_compiled
from engine.compiler import conditions
from engine.decide import Decider
from engine.decide.classify import NO_MODEL
from engine.model.event import Event, event_document

DEGRADED = ["Checkout Degraded", "degraded", "payments degraded", "API Degradation", "Checkout API Degradation",
            "Degraded", "xdegradedx", "search degradation", "Degradé — ведётся расследование"]
NOT_DEGRADED = ["DEGRADED", "all good", "", "Degarded", "d e g r a d e d"]


@pytest.fixture(scope="module")
def decider() -> Decider:
    return Decider(load_compiled(RULES, quiet_warnings=True), model=NO_MODEL)


def event(title: str, n: int = 1) -> Event:
    return Event.model_validate({"event_id": f"e{n}", "timestamp": "2025-01-01T12:00:00Z",
                                 "service": "payment-api", "title": title})


@pytest.mark.parametrize("title", DEGRADED)
def test_a_degraded_title_is_moderate_by_warning_title(decider: Decider, title: str) -> None:
    d = decider.decide(event(title))
    assert (d.severity, d.fired_rules[0]) == ("MODERATE", "severity:warning-title"), title


@pytest.mark.parametrize("title", NOT_DEGRADED)
def test_other_titles_stay_none(decider: Decider, title: str) -> None:
    assert decider.decide(event(title)).severity == "NONE", title


@pytest.mark.parametrize("title", DEGRADED + NOT_DEGRADED)
def test_the_engine_and_explain_agree_on_the_shipped_rule(decider: Decider, title: str) -> None:
    rule = decider.compiled.rules["severity:warning-title"]
    ev = event(title)
    said = conditions.explain(rule.condition, event_document(ev))[0]  # what rules explain and coverage use
    fired = decider.decide(ev).fired_rules[0] == "severity:warning-title"
    assert said == fired == (title in DEGRADED), title
