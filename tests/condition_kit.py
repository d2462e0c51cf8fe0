"""Generators over the condition language and over events, and a durable-rules harness that reports
every rule a fact matches (facts fire all matching rules): what the differential tests compare with
the Python evaluator (``engine.compiler.conditions.evaluate``, the one ``rules explain`` and coverage use).

The vocabularies are small on purpose, so that generated conditions and events meet often: text
with quotes, backslashes, newlines, ``null``, exponent-looking text, non-ASCII and fullwidth letters;
patterns whose literal overlaps itself (``abca`` in ``abcab``: what durable-rules' regex engine
loses), classes starting with ``-``; numbers around 0, with exponents, at 2**53.
"""

from __future__ import annotations

from typing import Any

import durable_rules_engine
from hypothesis import strategies as st

from engine.compiler import conditions, text_tests
from engine.compiler.compile import RULESET, event_binding
from engine.durable import _Host, encode, event_fact
from engine.model.event import Event, event_document

NUMBER_FIELDS = ["metrics.error_rate", "metrics.x", "derived.load_ratio", "traces.error_spans"]
STRING_FIELDS = ["title", "labels.team", "labels.app.kubernetes.io/name", "fingerprint", "environment"]
BOOL_FIELDS = ["conditions.crash_loop", "conditions.flag"]
NUMS = [0, 1, -1, 0.5, 2.5, 1e-05, 3, 100, 2**53, 0.1, 1.0]
WORDS = ["", "a", "ab", "abca", "abcab", "degraded", "Checkout Degraded", "API Degradation", "db down", "é",
         "支付", 'a"b', "a\\b", "x\ny", "null", "1e-5", "%d", "-_", "a.b", "A B", "ｐａｙ", "\t", "a\u0000b"]
ATOMS = ["a", "b", "d", "e", "[Dd]", "[-_ :.]", ".", "\\d", "\\w", "\\s", "é", "%", '"', "\\\\", "\\.", "(a|b)",
         "[^a]", "(?i:d)", "x"]
QUANTIFIERS = ["", "", "*", "+", "?", "{1,2}"]


def regexes() -> st.SearchStrategy[str]:
    atom = st.builds(lambda a, q: a + q, st.sampled_from(ATOMS), st.sampled_from(QUANTIFIERS))
    body = st.lists(atom, min_size=1, max_size=4).map("".join)
    return st.builds(lambda pre, b, post: pre + b + post,
                     st.sampled_from(["", ".*", "^", "^.*"]), body, st.sampled_from(["", ".*", "$", ".*$"]))


def leaves() -> st.SearchStrategy[dict[str, Any]]:
    num, text = st.sampled_from(NUMS), st.sampled_from(WORDS)
    return st.one_of(
        st.builds(lambda p, op, v: {p: {op: v}}, st.sampled_from(NUMBER_FIELDS),
                  st.sampled_from(["eq", "ne", "gt", "gte", "lt", "lte"]), num),
        st.builds(lambda p, v: {p: {"in": v}}, st.sampled_from(NUMBER_FIELDS), st.lists(num, min_size=1, max_size=3)),
        st.builds(lambda p, op, v: {p: {op: v}}, st.sampled_from(STRING_FIELDS), st.sampled_from(["eq", "ne"]), text),
        st.builds(lambda p, v: {p: {"in": v}}, st.sampled_from(STRING_FIELDS), st.lists(text, min_size=1, max_size=3)),
        st.builds(lambda p, v: {p: {"contains": v}}, st.sampled_from(STRING_FIELDS), text),
        st.builds(lambda p, v: {p: {"matches": v}}, st.sampled_from(STRING_FIELDS), regexes()),
        st.builds(lambda p, v: {p: v}, st.sampled_from(BOOL_FIELDS), st.booleans()),
        st.builds(lambda p, v: {p: {"ne": v}}, st.sampled_from(BOOL_FIELDS), st.booleans()),
        st.builds(lambda p, v: {p: {"exists": v}},
                  st.sampled_from(NUMBER_FIELDS + STRING_FIELDS + BOOL_FIELDS), st.booleans()),
    )


def condition_trees(max_leaves: int = 8) -> st.SearchStrategy[dict[str, Any]]:
    return st.recursive(
        leaves(),
        lambda inner: st.one_of(
            st.builds(lambda xs: {"all": xs}, st.lists(inner, min_size=1, max_size=4)),
            st.builds(lambda xs: {"any": xs}, st.lists(inner, min_size=1, max_size=4)),
            st.builds(lambda x: {"not": x}, inner),
        ),
        max_leaves=max_leaves,
    )


def _text() -> st.SearchStrategy[str]:
    word = st.sampled_from(WORDS)
    return st.one_of(word, st.builds(lambda a, b, sep: a + sep + b, word, word, st.sampled_from(["", " ", "-"])))


def events(n: int = 0) -> st.SearchStrategy[Event]:
    """Valid canonical events: every generated field is optional (absent, or one of the vocabularies)."""
    maybe = lambda s: st.one_of(st.none(), s)  # noqa: E731
    nums = st.sampled_from([x for x in NUMS if x < 2**53] + [2**53 - 1, 0.30000000000000004, 2.5000001])

    def build(title: str | None, team: str | None, app: str | None, fingerprint: str | None, env: str | None,
              error_rate: float | None, x: float | None, rates: tuple[float, float] | None, spans: int | None,
              crash: bool | None, flag: bool | None) -> Event:
        raw: dict[str, Any] = {"event_id": f"e{n}", "timestamp": "2025-01-01T12:00:00Z", "service": "payment-api"}
        optional = {"title": title, "fingerprint": fingerprint, "environment": env}
        raw.update({k: v for k, v in optional.items() if v is not None})
        labels = {k: v for k, v in (("team", team), ("app.kubernetes.io/name", app)) if v is not None}
        metrics = {k: v for k, v in (("error_rate", error_rate), ("x", x)) if v is not None}
        if rates is not None:
            metrics["request_rate"], metrics["baseline_request_rate"] = rates
        flags = {k: v for k, v in (("crash_loop", crash), ("flag", flag)) if v is not None}
        raw |= {"labels": labels, "metrics": metrics, "conditions": flags}
        if spans is not None:
            raw["traces"] = {"error_spans": spans, "total_spans": spans}
        return Event.model_validate(raw)

    return st.builds(build, maybe(_text()), maybe(_text()), maybe(_text()), maybe(st.sampled_from(WORDS)),
                     maybe(st.sampled_from(WORDS)), maybe(nums), maybe(nums), maybe(st.tuples(nums, nums)),
                     maybe(st.sampled_from([0, 1, 3, 2**53 - 1])), maybe(st.booleans()), maybe(st.booleans()))


class Harness:
    """One durable-rules ruleset, rule ``r<i>`` = condition i compiled as the compiler compiles a severity
    rule's binding; :meth:`matching` asserts a fact built as the engine builds it and returns every rule
    that fired. Loading it raises durable-rules' own error (113, 501, …) if the engine refuses it."""

    def __init__(self, nodes: list[Any], name: str = RULESET) -> None:
        rules = {}
        for i, node in enumerate(nodes):
            rules[f"r{i}"] = {"all": [{"m": event_binding(node)}], "run": f"r{i}"}  # as a severity rule's
        self.paths = tuple(sorted(set().union(*(conditions.paths(n) for n in nodes))))
        self.tests = text_tests.tester(text_tests.python_tests(nodes))
        host = _Host({f"r{i}": _never for i in range(len(nodes))}, {name: rules})
        self._handle = host.get_ruleset(name)._handle
        self._n = 0

    def fact(self, doc: dict[str, Any]) -> dict[str, Any]:
        """What ``engine.durable.policy_fact`` builds: the fields read, plus the Python-evaluated text tests."""
        fact = event_fact(doc, self.paths)
        passed = self.tests(doc)
        if passed:
            fact[conditions.TESTED] = passed
        return fact

    def matching(self, doc: dict[str, Any]) -> set[int]:
        """The rules the fact of ``doc`` fires (the activation loop of ``engine.durable.Engine``)."""
        self._n += 1
        message = encode({**self.fact(doc), "t": "event", "id": f"f{self._n}", "sid": "1"})
        code, state = durable_rules_engine.assert_fact(self._handle, message)
        fired: set[int] = set()
        if code == 1:  # no rule wants it
            return fired
        assert code in (0, 3), code
        started = durable_rules_engine.start_action_for_state(self._handle, state) if code == 0 else None
        activation = started[1] if started else None
        while activation:
            fired.add(int(activation[3:activation.find('"', 2)]))  # '{"r<i>": ...'
            activation = durable_rules_engine.complete_and_start_action(self._handle, state)
        durable_rules_engine.retract_fact(self._handle, message)
        return fired


def _never(c: Any) -> None:
    raise AssertionError("the harness runs the activations itself")


def document(event: Event) -> dict[str, Any]:
    return event_document(event)
