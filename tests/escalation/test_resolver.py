"""engine.resolver: weekly rotation hand-off, one-off overrides, fallback team."""

from __future__ import annotations

from datetime import UTC, datetime

from engine.resolver import Owner, resolve
from engine.validate import validate

ROTATION = '''    primary: ["alice@company.com", "bob@company.com"]
    backup: ["charlie@company.com"]
    escalation_delay: 300  # 5 minutes
    rotation:
      members: ["alice@company.com", "bob@company.com"]
      handoff: "mon 09:00"
      start: "2025-01-06T09:00:00Z"
    overrides:
      - {who: "dave@company.com", covers: "bob@company.com", start: "2025-01-14T00:00:00Z",
         end: "2025-01-15T00:00:00Z", reason: "swap"}
'''
SEED = '''    primary: ["alice@company.com", "bob@company.com"]
    backup: ["charlie@company.com"]
    escalation_delay: 300  # 5 minutes
'''


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def policy(rules_copy, **edits):
    found, diags = validate(rules_copy(**edits))
    assert found is not None, diags
    return found


def test_rotation_hands_off_exactly_at_the_handoff_time(rules_copy):
    p = policy(rules_copy, **{"escalation-matrix": (SEED, ROTATION)})
    assert resolve(p, "payment-api", at("2025-01-06T08:59:59")).primary == ("alice@company.com", "bob@company.com")
    assert resolve(p, "payment-api", at("2025-01-06T09:00:00")).primary == ("alice@company.com",)
    assert resolve(p, "payment-api", at("2025-01-13T08:59:59")).primary == ("alice@company.com",)
    assert resolve(p, "payment-api", at("2025-01-13T09:00:00")).primary == ("bob@company.com",)
    assert resolve(p, "payment-api", at("2025-01-20T09:00:00")).primary == ("alice@company.com",)  # cycles
    assert "rotation: bob@company.com on call" in resolve(p, "payment-api", at("2025-01-13T09:00:00")).notes[0]


def test_override_replaces_the_covered_person_inside_its_window_only(rules_copy):
    p = policy(rules_copy, **{"escalation-matrix": (SEED, ROTATION)})
    assert resolve(p, "payment-api", at("2025-01-13T23:59:59")).primary == ("bob@company.com",)
    inside = resolve(p, "payment-api", at("2025-01-14T12:00:00"))
    assert inside.primary == ("dave@company.com",)
    assert any("dave@company.com covers bob@company.com" in n for n in inside.notes)
    assert resolve(p, "payment-api", at("2025-01-15T00:00:00")).primary == ("bob@company.com",)  # end exclusive


def test_unowned_service_goes_to_the_fallback_team_flagged(rules_copy):
    p = policy(rules_copy, **{"escalation-matrix": ("  search-api: frontend\n", "  search-api: ~\n")})
    for service in ("search-api", "never-heard-of"):
        owner = resolve(p, service, at("2025-01-06T09:00:00"))
        assert (owner.team, owner.fallback, owner.primary) == ("sre", True, ("sre-oncall@company.com",))
        assert owner.as_dict()["fallback"] is True
    assert resolve(p, "payment-api").fallback is False


def test_owner_as_dict_carries_every_field() -> None:
    import dataclasses

    owner = Owner("payments", ("alice",), ("bob",), 300, fallback=True, slack="#pay", notes=("n",))
    out = owner.as_dict()
    assert set(out) == {f.name for f in dataclasses.fields(Owner)}
    assert out["primary"] == ["alice"] and out["backup"] == ["bob"] and out["notes"] == ["n"]
