"""engine.model.schedule: weekly rotation hand-off, one-off overrides, fallback team."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from engine.compiler.validate import validate
from engine.model.schedule import Owner, OwnerCache, resolve, span

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


def policy(policy_copy, **edits):
    found, diags = validate(policy_copy(**edits))
    assert found is not None, diags
    return found


def test_rotation_hands_off_exactly_at_the_handoff_time(policy_copy):
    p = policy(policy_copy, **{"escalation-matrix": (SEED, ROTATION)})
    assert resolve(p, "payment-api", at("2025-01-06T08:59:59")).primary == ("alice@company.com", "bob@company.com")
    assert resolve(p, "payment-api", at("2025-01-06T09:00:00")).primary == ("alice@company.com",)
    assert resolve(p, "payment-api", at("2025-01-13T08:59:59")).primary == ("alice@company.com",)
    assert resolve(p, "payment-api", at("2025-01-13T09:00:00")).primary == ("bob@company.com",)
    assert resolve(p, "payment-api", at("2025-01-20T09:00:00")).primary == ("alice@company.com",)  # cycles
    assert "rotation: bob@company.com on call" in resolve(p, "payment-api", at("2025-01-13T09:00:00")).notes[0]


def test_override_replaces_the_covered_person_inside_its_window_only(policy_copy):
    p = policy(policy_copy, **{"escalation-matrix": (SEED, ROTATION)})
    assert resolve(p, "payment-api", at("2025-01-13T23:59:59")).primary == ("bob@company.com",)
    inside = resolve(p, "payment-api", at("2025-01-14T12:00:00"))
    assert inside.primary == ("dave@company.com",)
    assert any("dave@company.com covers bob@company.com" in n for n in inside.notes)
    assert resolve(p, "payment-api", at("2025-01-15T00:00:00")).primary == ("bob@company.com",)  # end exclusive


def test_unowned_service_goes_to_the_fallback_team_flagged(policy_copy):
    p = policy(policy_copy, **{"escalation-matrix": ("  search-api: frontend\n", "  search-api: ~\n")})
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


# --- OwnerCache: resolve() reused inside the span where the owner cannot change ------------------------------

OVERRIDES = ROTATION + ('      - {who: "eve@company.com", covers: "charlie@company.com", '
                        'start: "2025-01-14T12:00:00Z", end: "2025-01-20T09:00:00Z"}\n')


def test_span_is_bounded_by_handoffs_and_override_edges(policy_copy):
    p = policy(policy_copy, **{"escalation-matrix": (SEED, OVERRIDES)})
    assert span(p, "payment-api", at("2025-01-01T00:00:00")) == (None, at("2025-01-06T09:00:00"))
    assert span(p, "payment-api", at("2025-01-07T00:00:00")) == (at("2025-01-06T09:00:00"), at("2025-01-13T09:00:00"))
    assert span(p, "payment-api", at("2025-01-14T06:00:00")) == (at("2025-01-14T00:00:00"), at("2025-01-14T12:00:00"))
    assert span(p, "payment-api", at("2025-01-16T00:00:00")) == (at("2025-01-15T00:00:00"), at("2025-01-20T09:00:00"))


def test_cached_owner_equals_resolve_at_every_time(policy_copy):
    """Events in time order, out of order and across every edge: the cache never returns a stale owner."""
    p = policy(policy_copy, **{"escalation-matrix": (SEED, OVERRIDES)})
    cache = OwnerCache(p)
    rng = random.Random(5)
    edges = [at(t) for t in ("2025-01-06T09:00:00", "2025-01-13T09:00:00", "2025-01-14T00:00:00",
                             "2025-01-14T12:00:00", "2025-01-15T00:00:00", "2025-01-20T09:00:00",
                             "2025-01-27T09:00:00")]
    times = [e + timedelta(seconds=d) for e in edges for d in (-1, 0, 1)]
    start = at("2024-12-30T00:00:00")
    times += [start + timedelta(seconds=i * 1800) for i in range(2000)]  # six weeks, in order
    times += [start + timedelta(seconds=rng.uniform(0, 45 * 86400)) for _ in range(2000)]  # and shuffled
    services = sorted(p.services) + ["unowned-svc"]
    reused = 0
    for t in times:
        for service in services:
            before = cache._held.get(service)
            got = cache.resolve(service, t)
            reused += before is not None and before[0] is got
            assert got == resolve(p, service, t), (service, t)
    assert reused > len(times)  # it is a cache: most lookups reuse the owner


def test_owner_cache_takes_naive_times_as_utc(policy_copy):
    p = policy(policy_copy, **{"escalation-matrix": (SEED, ROTATION)})
    naive = datetime(2025, 1, 14, 6)
    assert OwnerCache(p).resolve("payment-api", naive) == resolve(p, "payment-api", naive)
