"""The schemas' fast yes (engine/compiler/schema_accept.py) agrees with jsonschema, and errors still come from it."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from core_util import ROOT, RULES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from engine.compiler.load import load_dir
from engine.compiler.schema import SCHEMA_DIR, validator
from engine.compiler.schema_accept import acceptor, equal
from engine.compiler.validate import validate

DOCS = [(d.kind, d.data) for d in load_dir(RULES)[0]]
EVENTS = [json.loads(p.read_text()) for p in sorted((ROOT / "sample-events").glob("*.json"))]
SCHEMAS = {kind: json.loads((SCHEMA_DIR / f"{kind}.schema.json").read_text()) for kind, _ in DOCS}
SCHEMAS["event"] = json.loads((SCHEMA_DIR / "event.schema.json").read_text())
SAMPLES = [(kind, data) for kind, data in DOCS] + [("event", e) for e in EVENTS]


def paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(data, dict):
        for k, v in data.items():
            out += paths(v, (*prefix, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += paths(v, (*prefix, i))
    return out


def get(data: Any, path: tuple[Any, ...]) -> Any:
    for p in path:
        data = data[p]
    return data


scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 10**6), st.floats(-1e3, 1e6, allow_nan=False),
                    st.sampled_from(["", "x", "CRITICAL", "critical", "payment-api", "5m", "PT5M", "a b", "1", "#zz"]))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.sampled_from(["id", "when", "x", "severity", "kind"]), inner, max_size=2),
                      max_leaves=6)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, Any]:
    """A shipped document with one to three edits: a value swapped with another of the document's own
    (near-valid, so enums and patterns meet their edge), a random value, a key dropped or added, an item doubled."""
    kind, data = draw(st.sampled_from(SAMPLES))
    data = copy.deepcopy(data)
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(paths(data)))
        if not where:
            continue
        parent = get(data, where[:-1])
        how = draw(st.sampled_from(["swap", "random", "drop", "add", "double"]))
        if how == "swap":
            parent[where[-1]] = copy.deepcopy(get(data, draw(st.sampled_from(paths(data)))))
        elif how == "random":
            parent[where[-1]] = draw(values)
        elif how == "drop":
            del parent[where[-1]]
        elif how == "add" and isinstance(parent, dict):
            parent[draw(st.sampled_from(["extra", "id", "when", "then", "unless", "severity"]))] = draw(values)
        elif how == "double" and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[where[-1]]))
    return kind, data


@pytest.mark.parametrize("kind", sorted(SCHEMAS))
def test_every_shipped_schema_has_a_fast_yes(kind: str) -> None:
    assert acceptor(SCHEMAS[kind]) is not None


@pytest.mark.parametrize(("kind", "data"), SAMPLES, ids=[k for k, _ in SAMPLES])
def test_the_shipped_documents_are_accepted(kind: str, data: Any) -> None:
    accepts = acceptor(SCHEMAS[kind])
    assert accepts is not None and accepts(data)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_the_fast_yes_is_jsonschemas_verdict_on_mutated_documents(case: tuple[str, Any]) -> None:
    kind, data = case
    accepts = acceptor(SCHEMAS[kind])
    assert accepts is not None
    assert accepts(data) == Draft202012Validator(SCHEMAS[kind]).is_valid(data)


@pytest.mark.parametrize(("schema", "instance"), [
    ({"enum": [1]}, True), ({"const": 0}, False), ({"enum": [[1]]}, [True]),  # a boolean is not a number
    ({"type": "integer"}, True), ({"type": "number"}, False), ({"minimum": 5}, 4.5),
    ({"uniqueItems": True}, [1, 1.0]), ({"uniqueItems": True}, [{"a": [1]}, {"a": [1]}]),
    ({"pattern": "^a$"}, "ba"), ({"maxLength": 1}, "ab"),
    ({"properties": {"a": {"type": "string"}}, "patternProperties": {"^b": False}, "additionalProperties": False},
     {"c": 1}),
    ({"properties": {"a": {"type": "string"}}, "patternProperties": {"^b": False}}, {"bx": 1}),
    ({"oneOf": [{"type": "integer"}, {"type": "number"}]}, 3),
    ({"$defs": {"n": {"type": "null"}}, "$ref": "#/$defs/n", "not": {"const": None}}, None),
])
def test_edge_cases_that_jsonschema_rejects_are_rejected(schema: dict[str, Any], instance: Any) -> None:
    accepts = acceptor(schema)
    assert accepts is not None
    assert not Draft202012Validator(schema).is_valid(instance)
    assert not accepts(instance)


@pytest.mark.parametrize(("schema", "instance"), [
    ({"type": "integer"}, 3.0), ({"enum": [1]}, 1.0), ({"uniqueItems": True}, [1, True]),
    ({"format": "date-time"}, "not a time"),  # format is an annotation (no format checker)
    ({"pattern": "b"}, "abc"), ({"minimum": 5}, "text"), ({"minimum": 5}, True),  # minimum sees numbers only
])
def test_edge_cases_that_jsonschema_accepts_are_accepted(schema: dict[str, Any], instance: Any) -> None:
    accepts = acceptor(schema)
    assert accepts is not None
    assert Draft202012Validator(schema).is_valid(instance)
    assert accepts(instance)


@pytest.mark.parametrize("schema", [
    {"dependentRequired": {"a": ["b"]}}, {"$ref": "other.json#/x"}, {"prefixItems": [{}]},
    {"properties": {"a": {"$id": "inner", "type": "string"}}}, {"type": "decimal"}, {"pattern": "("},
])
def test_a_schema_outside_the_subset_gets_no_fast_yes(schema: dict[str, Any]) -> None:
    assert acceptor(schema) is None


def test_equal_is_json_equality() -> None:
    assert equal(1, 1.0) and equal({"a": [1, "x"]}, {"a": [1.0, "x"]})
    assert not equal(1, True) and not equal(0, False) and not equal("1", 1) and not equal([1], [1, 1])


def test_a_rejected_document_is_explained_by_jsonschema_at_its_line(rules_copy: Path) -> None:
    path = rules_copy / "escalation-matrix.yaml"
    lines = path.read_text().splitlines()
    at = lines.index("kind: escalation-matrix") + 1
    path.write_text("\n".join([*lines[:at], "bogus: 1", *lines[at:]]) + "\n")
    policy, problems = validate(rules_copy)
    assert policy is None
    unknown = [d for d in problems if d.code == "schema-unknown-key"]
    assert len(unknown) == 1 and (unknown[0].line, unknown[0].col) == (at + 1, 1) and "'bogus'" in unknown[0].message
    assert validator("escalation-matrix")._full is not None  # the explanation came from jsonschema
