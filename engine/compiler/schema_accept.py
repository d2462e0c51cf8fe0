"""A fast yes for the rule schemas: accept a valid document without importing jsonschema.

Importing ``jsonschema`` (with ``referencing``, ``rpds``, ``attrs`` and the bundled meta-schemas) costs
about 50 ms, a sixth of ``rules validate``. Rule files are valid far more often than not, so
:func:`acceptor` compiles a schema into a predicate that says whether a document is valid, and
jsonschema (:mod:`engine.compiler.schema`) is imported only to explain a document the predicate
rejects: every error message, pointer and file:line:col still comes from jsonschema.

The predicate must never accept what jsonschema rejects. It implements only the Draft 2020-12
keywords the shipped schemas use, with jsonschema's own semantics (``True`` is not ``1``, ``1.0`` is
an integer, ``pattern`` is ``re.search``, ``format`` is an annotation); a schema with any other
keyword, or a ``$ref`` that is not a pointer into the same document, gets no predicate (None) and is
checked by jsonschema alone. ``tests/compiler/test_schema_accept.py`` compares the two on
mutated rule documents.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

Predicate = Callable[[Any], bool]

ANNOTATIONS = frozenset({"$schema", "$id", "$comment", "$defs", "title", "description", "default", "examples",
                         "format", "deprecated", "readOnly", "writeOnly"})
_TYPES: dict[str, Callable[[Any], bool]] = {
    "null": lambda v: v is None,
    "boolean": lambda v: isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer()),
}


OBJECT = frozenset({"properties", "patternProperties", "additionalProperties"})  # compiled together


class Unsupported(Exception):
    """The schema uses something this module does not implement: jsonschema alone decides."""


def acceptor(schema: Mapping[str, Any]) -> Predicate | None:
    """A predicate true exactly for the documents jsonschema finds valid, or None (see module docstring)."""
    try:
        return _Compiler(schema).compile(schema)
    except (Unsupported, re.error, TypeError, AttributeError):  # and a malformed schema: jsonschema says so
        return None


def equal(one: Any, two: Any) -> bool:
    """JSON equality as jsonschema's ``enum``, ``const`` and ``uniqueItems`` see it: booleans are not numbers."""
    if isinstance(one, str) or isinstance(two, str):
        return bool(one == two)
    if isinstance(one, list) and isinstance(two, list):
        return len(one) == len(two) and all(equal(a, b) for a, b in zip(one, two, strict=True))
    if isinstance(one, dict) and isinstance(two, dict):
        return one.keys() == two.keys() and all(equal(one[k], two[k]) for k in one)
    if isinstance(one, bool) or isinstance(two, bool):
        return type(one) is type(two) and one == two
    return bool(one == two)


class _Compiler:
    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root
        self.refs: dict[str, Predicate] = {}

    def compile(self, schema: Any) -> Predicate:
        if schema is True:
            return lambda v: True
        if schema is False:
            return lambda v: False
        if not isinstance(schema, dict):
            raise Unsupported(f"schema {schema!r}")
        if "$id" in schema and schema is not self.root:
            raise Unsupported("$id below the root")  # would move the base of the references under it
        checks: list[Predicate] = []
        for key, value in schema.items():
            if key in ANNOTATIONS or key in OBJECT:
                continue
            build = KEYWORDS.get(key)
            if build is None:
                raise Unsupported(key)
            checks.append(build(self, value))
        if OBJECT & schema.keys():
            checks.append(self._object(schema))
        if len(checks) == 1:
            return checks[0]
        return lambda v: all(check(v) for check in checks)

    # -- references -------------------------------------------------------------------
    def _ref(self, ref: str) -> Predicate:
        if not ref.startswith("#"):
            raise Unsupported(f"$ref {ref!r}")
        if ref not in self.refs:
            self.refs[ref] = lambda v: False  # replaced below; a recursive $ref calls through the dict
            target: Any = self.root
            for token in [t for t in ref[1:].split("/") if t]:
                token = token.replace("~1", "/").replace("~0", "~")
                if not isinstance(target, dict) or token not in target:
                    raise Unsupported(f"$ref {ref!r}")
                target = target[token]
            compiled = self.compile(target)
            self.refs[ref] = compiled
        refs = self.refs
        return lambda v: refs[ref](v)

    # -- any type ---------------------------------------------------------------------
    def _type(self, want: str | list[str]) -> Predicate:
        names = [want] if isinstance(want, str) else list(want)
        if not set(names) <= _TYPES.keys():
            raise Unsupported(f"type {want!r}")
        tests = [_TYPES[n] for n in names]
        return lambda v: any(t(v) for t in tests)

    def _enum(self, options: list[Any]) -> Predicate:
        return lambda v: any(equal(v, o) for o in options)

    def _const(self, value: Any) -> Predicate:
        return lambda v: equal(v, value)

    def _any_of(self, schemas: list[Any]) -> Predicate:
        preds = [self.compile(s) for s in schemas]
        return lambda v: any(p(v) for p in preds)

    def _all_of(self, schemas: list[Any]) -> Predicate:
        preds = [self.compile(s) for s in schemas]
        return lambda v: all(p(v) for p in preds)

    def _one_of(self, schemas: list[Any]) -> Predicate:
        preds = [self.compile(s) for s in schemas]
        return lambda v: sum(1 for p in preds if p(v)) == 1

    def _not(self, schema: Any) -> Predicate:
        pred = self.compile(schema)
        return lambda v: not pred(v)

    # -- strings ----------------------------------------------------------------------
    def _pattern(self, pattern: str) -> Predicate:
        search = re.compile(pattern).search
        return lambda v: not isinstance(v, str) or search(v) is not None

    def _min_length(self, n: int) -> Predicate:
        return lambda v: not isinstance(v, str) or len(v) >= n

    def _max_length(self, n: int) -> Predicate:
        return lambda v: not isinstance(v, str) or len(v) <= n

    # -- numbers ----------------------------------------------------------------------
    def _number(self, ok: Callable[[float], bool]) -> Predicate:
        return lambda v: not _TYPES["number"](v) or (not (isinstance(v, float) and math.isnan(v)) and ok(v))

    def _minimum(self, bound: float) -> Predicate:
        return self._number(lambda v: v >= bound)

    def _maximum(self, bound: float) -> Predicate:
        return self._number(lambda v: v <= bound)

    def _exclusive_minimum(self, bound: float) -> Predicate:
        return self._number(lambda v: v > bound)

    def _exclusive_maximum(self, bound: float) -> Predicate:
        return self._number(lambda v: v < bound)

    # -- arrays -----------------------------------------------------------------------
    def _items(self, schema: Any) -> Predicate:
        pred = self.compile(schema)
        return lambda v: not isinstance(v, list) or all(pred(x) for x in v)

    def _min_items(self, n: int) -> Predicate:
        return lambda v: not isinstance(v, list) or len(v) >= n

    def _max_items(self, n: int) -> Predicate:
        return lambda v: not isinstance(v, list) or len(v) <= n

    def _unique_items(self, unique: bool) -> Predicate:
        if not unique:
            return lambda v: True
        return lambda v: not isinstance(v, list) or not any(
            equal(v[i], v[j]) for i in range(len(v)) for j in range(i + 1, len(v)))

    # -- objects ----------------------------------------------------------------------
    def _required(self, names: list[str]) -> Predicate:
        return lambda v: not isinstance(v, dict) or all(n in v for n in names)

    def _min_properties(self, n: int) -> Predicate:
        return lambda v: not isinstance(v, dict) or len(v) >= n

    def _max_properties(self, n: int) -> Predicate:
        return lambda v: not isinstance(v, dict) or len(v) <= n

    def _property_names(self, schema: Any) -> Predicate:
        pred = self.compile(schema)
        return lambda v: not isinstance(v, dict) or all(pred(k) for k in v)

    def _object(self, schema: Mapping[str, Any]) -> Predicate:
        """``properties``, ``patternProperties`` and ``additionalProperties`` (which sees what the first two do not)."""
        props = {k: self.compile(s) for k, s in (schema.get("properties") or {}).items()}
        patterns = [(re.compile(p).search, self.compile(s)) for p, s in (schema.get("patternProperties") or {}).items()]
        extra = self.compile(schema["additionalProperties"]) if "additionalProperties" in schema else None

        def check(v: Any) -> bool:
            if not isinstance(v, dict):
                return True
            for key, value in v.items():
                seen = False
                if key in props:
                    seen = True
                    if not props[key](value):
                        return False
                for search, pred in patterns:
                    if search(key) is not None:
                        seen = True
                        if not pred(value):
                            return False
                if not seen and extra is not None and not extra(value):
                    return False
            return True

        return check


KEYWORDS: dict[str, Callable[[_Compiler, Any], Predicate]] = {
    "$ref": _Compiler._ref, "type": _Compiler._type, "enum": _Compiler._enum, "const": _Compiler._const,
    "anyOf": _Compiler._any_of, "allOf": _Compiler._all_of, "oneOf": _Compiler._one_of, "not": _Compiler._not,
    "pattern": _Compiler._pattern, "minLength": _Compiler._min_length, "maxLength": _Compiler._max_length,
    "minimum": _Compiler._minimum, "maximum": _Compiler._maximum,
    "exclusiveMinimum": _Compiler._exclusive_minimum, "exclusiveMaximum": _Compiler._exclusive_maximum,
    "items": _Compiler._items, "minItems": _Compiler._min_items, "maxItems": _Compiler._max_items,
    "uniqueItems": _Compiler._unique_items, "required": _Compiler._required,
    "minProperties": _Compiler._min_properties, "maxProperties": _Compiler._max_properties,
    "propertyNames": _Compiler._property_names,
}
