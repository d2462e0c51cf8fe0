"""Decide as a list of named stages: the observer sees every stage of every decision, in order."""

from __future__ import annotations

from engine.decide import STAGES, Decider, Draft
from engine.decide.classify import NO_MODEL


def test_the_observer_sees_every_stage_in_order_with_the_draft_filled_in_so_far(compiled, make_event) -> None:
    seen: list[tuple[str, str, bool, int]] = []

    def observe(stage: str, draft: Draft) -> None:
        seen.append((stage, draft.severity, draft.owner is not None, len(draft.firings)))

    event = make_event("e1", metrics={"error_rate": 0.5}, service="payment-api")
    watched = Decider(compiled, model=NO_MODEL, observer=observe).decide(event)
    names = [s.name for s in STAGES]
    assert names == ["classify", "history", "rules", "owner", "remediation", "escalation"]
    assert [s[0] for s in seen] == names
    by_stage = {name: (severity, owned, fired) for name, severity, owned, fired in seen}
    assert by_stage["history"] == ("", False, 0)  # nothing decided before the rules ran
    assert by_stage["rules"][0] == watched.severity and by_stage["rules"][2] == len(watched.firings) > 0
    assert not by_stage["rules"][1] and by_stage["owner"][1]  # the owner is resolved after the rules
    plain = Decider(compiled, model=NO_MODEL).decide(event)
    assert watched.as_dict() == plain.as_dict() and watched.intents == plain.intents  # watching changes nothing


def test_rendering_after_suppression_builds_what_rendering_at_once_builds(compiled, make_event) -> None:
    decider = Decider(compiled, model=NO_MODEL)
    event = make_event("e2", metrics={"error_rate": 0.5}, service="payment-api")
    now = decider.decide(event)
    later = decider.decide(event, render=False)
    assert later.intents is None and all(n["message"] is None for n in later.notifications)
    Decider.finish(later)
    assert later.intents == now.intents and later.notifications == now.notifications and later.pending is None


def test_intents_suppression_replaced_are_kept_and_their_messages_only_rendered(compiled, make_event) -> None:
    decider = Decider(compiled, model=NO_MODEL)
    later = decider.decide(make_event("e3", metrics={"error_rate": 0.5}, service="payment-api"), render=False)
    later.intents = []  # what the suppression stage does to a deduplicated repeat
    Decider.finish(later)
    assert later.intents == [] and all(n["message"] is None for n in later.notifications)
