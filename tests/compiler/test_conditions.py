"""The condition language: the durable-rules compilation and the Python evaluator agree."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.compiler import conditions
from engine.compiler.compile import RULESET
from engine.durable import _Host, encode

FIELDS = {"metrics.a": "number", "metrics.b": "number", "conditions.x": "boolean", "labels.tier": "string",
          "title": "string"}


def leaf_strategy() -> st.SearchStrategy:
    num = st.sampled_from([0, 0.5, 1, 2.5, 10])
    text = st.sampled_from(["gold", "silver", "db down", "Disk full"])
    return st.one_of(
        st.builds(lambda p, op, v: {p: {op: v}}, st.sampled_from(["metrics.a", "metrics.b"]),
                  st.sampled_from(["eq", "ne", "gt", "gte", "lt", "lte"]), num),
        st.builds(lambda p, v: {p: {"in": v}}, st.sampled_from(["metrics.a", "labels.tier"]),
                  st.lists(num, min_size=1, max_size=3)).filter(lambda d: "labels.tier" not in d),
        st.builds(lambda v: {"labels.tier": {"in": v}}, st.lists(text, min_size=1, max_size=3)),
        st.builds(lambda v: {"conditions.x": v}, st.booleans()),
        st.builds(lambda p, v: {p: {"exists": v}}, st.sampled_from(list(FIELDS)), st.booleans()),
        st.builds(lambda v: {"title": {"contains": v}}, st.sampled_from(["down", "full", "x"])),
        st.builds(lambda v: {"title": {"matches": v}}, st.sampled_from([".*down", "Disk.*", "db %d+"[:4]])),
    )


def condition_strategy() -> st.SearchStrategy:
    return st.recursive(
        leaf_strategy(),
        lambda inner: st.one_of(
            st.builds(lambda xs: {"all": xs}, st.lists(inner, min_size=1, max_size=3)),
            st.builds(lambda xs: {"any": xs}, st.lists(inner, min_size=1, max_size=3)),
            st.builds(lambda x: {"not": x}, inner),
        ),
        max_leaves=6,
    )


def event_strategy() -> st.SearchStrategy:
    maybe = lambda s: st.one_of(st.none(), s)  # noqa: E731
    return st.fixed_dictionaries({
        "a": maybe(st.sampled_from([0, 0.5, 1, 2.5, 3, 10, 1e-05])),
        "b": maybe(st.sampled_from([0, 1, 2.5, 10])),
        "x": maybe(st.booleans()),
        "tier": maybe(st.sampled_from(["gold", "silver", "bronze"])),
        "title": maybe(st.sampled_from(["db down", "Disk full", "all good"])),
    })


def to_doc(ev: dict) -> dict:
    doc: dict = {"metrics": {}, "conditions": {}, "labels": {}}
    if ev["a"] is not None:
        doc["metrics"]["a"] = ev["a"]
    if ev["b"] is not None:
        doc["metrics"]["b"] = ev["b"]
    if ev["x"] is not None:
        doc["conditions"]["x"] = ev["x"]
    if ev["tier"] is not None:
        doc["labels"]["tier"] = ev["tier"]
    if ev["title"] is not None:
        doc["title"] = ev["title"]
    return {k: v for k, v in doc.items() if v != {}}


def durable_matches(expr: dict | None, doc: dict) -> bool:
    fired: list[int] = []
    rule = {"$and": [{"t": "e"}, expr]} if expr else {"t": "e"}
    host = _Host({"r": lambda c: fired.append(1)}, {RULESET: {"r": {"all": [{"m": rule}], "run": "r"}}})
    rs = host.get_ruleset(RULESET)
    import durable_rules_engine

    try:
        res = durable_rules_engine.assert_fact(rs._handle, encode({**doc, "t": "e", "id": "1", "sid": "1"}))
        rs.do_actions(rs._handle_result(res, doc), lambda e, s: None)
    except Exception as exc:  # noqa: BLE001
        if "handle" in type(exc).__name__.lower() or "NotHandled" in type(exc).__name__:
            return False
        raise
    return bool(fired)


@settings(max_examples=150, deadline=None)
@given(raw=condition_strategy(), ev=event_strategy())
def test_engine_and_python_evaluator_agree(raw: dict, ev: dict) -> None:
    try:
        node = conditions.parse(raw)
        expr = conditions.compile_expr(node)
    except conditions.ConditionError:
        return  # e.g. not over matches: rejected at validation, never compiled
    doc = to_doc(ev)
    assert durable_matches(expr, doc) == conditions.evaluate(node, doc), (raw, doc, expr)


@settings(max_examples=300, deadline=None)
@given(raw=condition_strategy(), ev=event_strategy())
def test_evaluate_gives_explains_verdict(raw: dict, ev: dict) -> None:
    try:
        node = conditions.parse(raw)
    except conditions.ConditionError:
        return
    doc = to_doc(ev)
    assert conditions.evaluate(node, doc) == conditions.explain(node, doc)[0], (raw, doc)


@pytest.mark.parametrize("pattern, yes, no", [
    (r"db-\d+", ["db-1", "db-42"], ["db-", "db-x", "xdb-1"]),
    (r"api\.example\.com", ["api.example.com"], ["apixexample.com"]),
    (r"^(web|api)-[a-z]+$", ["web-eu", "api-us"], ["db-eu", "web-EU"]),
    (r"100%", ["100%"], ["100"]),
    (r"a{2,3}", ["aa", "aaa"], ["a", "aaaa"]),
])
def test_regex_translation_is_a_full_match_like_python(pattern: str, yes: list, no: list) -> None:
    node = conditions.parse({"title": {"matches": pattern}})
    expr = conditions.compile_expr(node)
    for text in yes + no:
        want = re.fullmatch(pattern.strip("^$"), text) is not None
        assert want == (text in yes)
        assert durable_matches(expr, {"title": text}) == want, (pattern, text)


@pytest.mark.parametrize("pattern", [r"(?i)down", r"a+?", r"(a)\1", r"\bword", r"a^b"])
def test_unsupported_regex_features_are_rejected(pattern: str) -> None:
    with pytest.raises(conditions.ConditionError) as exc:
        conditions.parse({"title": {"matches": pattern}}, "/when")
    assert exc.value.code in ("unsupported-regex", "bad-regex")


def test_not_over_matches_is_rejected_at_compile_time() -> None:
    node = conditions.parse({"not": {"title": {"contains": "x"}}}, "/when")
    with pytest.raises(conditions.ConditionError) as exc:
        conditions.compile_expr(node)
    assert exc.value.code == "unsupported-negation"


def test_string_compared_with_number_is_a_type_error() -> None:
    with pytest.raises(conditions.ConditionError) as exc:
        conditions.parse({"labels.tier": {"gt": 5}}, "/when")
    assert exc.value.code == "operator-type"
    with pytest.raises(conditions.ConditionError) as exc:
        conditions.parse({"metrics.a": {"eq": "5"}}, "/when")
    assert exc.value.code == "value-type"


def test_explain_reports_actual_values() -> None:
    node = conditions.parse({"any": [{"metrics.a": {"lt": 0.5}}, {"conditions.x": True}]})
    ok, why = conditions.explain(node, {"metrics": {"a": 0.2}})
    assert ok and why == ["metrics.a lt 0.5 (actual 0.2)"]
    assert conditions.explain(node, {"metrics": {"a": 0.9}}) == (False, [])
