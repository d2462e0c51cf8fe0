"""The schema stage: each document's kind, its JSON Schema (``schemas/<kind>.schema.json``), as Diagnostics.

Every jsonschema error becomes a :class:`~engine.model.diagnostics.Diagnostic` in one function
(:func:`schema_diagnostics`): the pointer from the error's path, the code ``schema-<validator>``,
have/want from the instance and the schema. Also used by the ``actions`` check for adapter configs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from typing import TYPE_CHECKING, Any

from engine.compiler.load import Document, escape
from engine.compiler.schema_accept import acceptor
from engine.model.diagnostics import Diagnostic
from engine.resources import resource

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

SCHEMA_DIR = resource("schemas")
KINDS = ("severity", "escalation-matrix", "escalation-policy", "remediation", "templates", "suppression")
SINGLE = ("escalation-matrix", "escalation-policy", "templates", "suppression")
MAX_RULES = 2000  # per file; a 10,000-rule file is rejected before the semantic checks (which grow with n²)
OPTIONAL = ("remediation", "suppression")


class Schema:
    """One schema file: a fast yes (:mod:`engine.compiler.schema_accept`) and jsonschema for the errors."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema
        self.accepts = acceptor(schema)  # None: jsonschema decides every document
        self._full: Draft202012Validator | None = None

    def iter_errors(self, instance: Any) -> Iterator[ValidationError]:
        if self.accepts is not None and self.accepts(instance):
            return iter(())
        if self._full is None:
            from jsonschema import Draft202012Validator

            self._full = Draft202012Validator(self.schema)
        return self._full.iter_errors(instance)


@cache
def validator(name: str) -> Schema:
    # The shipped schemas are checked against the meta-schema by tests/review/test_ci_files.py, not here:
    # check_schema costs about 10 ms a schema on every start of ``rules validate``.
    return Schema(json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text()))


def schema_diagnostics(doc: Document, validator_: Schema, base: str = "") -> list[Diagnostic]:
    """Translate every jsonschema error for ``doc`` (or the part at ``base``) into Diagnostics."""
    instance = _at(doc.data, base)
    out = []
    for err in sorted(validator_.iter_errors(instance), key=lambda e: list(e.absolute_path)):
        out.append(_translate(doc, err, base))
    return out


def _at(data: Any, pointer: str) -> Any:
    for token in [t for t in pointer.split("/") if t]:
        token = token.replace("~1", "/").replace("~0", "~")
        data = data[int(token)] if isinstance(data, list) else data[token]
    return data


def _translate(doc: Document, err: ValidationError, base: str) -> Diagnostic:
    pointer = base + "".join(f"/{escape(str(p))}" for p in err.absolute_path)
    code = f"schema-{err.validator}"
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        allowed = sorted((err.schema.get("properties") or {}).keys())
        extra = [k for k in err.instance if k not in allowed]
        if allowed and extra:
            key_ptr = f"{pointer}/{escape(extra[0])}"
            return doc.diagnostic(key_ptr, "schema-unknown-key", f"unknown key {extra[0]!r}", key=True,
                                  have=extra[0], want=allowed)
    if err.validator == "required":
        return doc.diagnostic(pointer, "schema-required", err.message.replace("'", '"'), want=err.validator_value)
    if err.validator in ("enum", "const"):
        want = err.validator_value if err.validator == "enum" else [err.validator_value]
        return doc.diagnostic(pointer, code, f"{err.instance!r} is not allowed", have=err.instance, want=want)
    if err.validator == "type":
        return doc.diagnostic(pointer, code, f"{err.instance!r} is not of type {err.validator_value!r}",
                              have=type(err.instance).__name__, want=err.validator_value)
    return doc.diagnostic(pointer, code, err.message, have=None, want=None)


def by_kind(docs: list[Document], rules_root: str) -> tuple[dict[str, list[Document]], list[Diagnostic]]:
    """The documents that pass their kind's schema, by kind; and the problems (unknown, duplicate or
    missing kinds, schema errors)."""
    diags: list[Diagnostic] = []
    kinds: dict[str, list[Document]] = {k: [] for k in KINDS}
    for doc in docs:
        kind = doc.kind
        if kind not in KINDS:
            have = "missing" if kind is None else kind
            diags.append(doc.diagnostic("/kind", "unknown-kind", f"unknown kind {have!r}", have=have,
                                        want=list(KINDS)))
            continue
        rules = doc.data.get("rules")
        if isinstance(rules, list) and len(rules) > MAX_RULES:  # before the checks that grow with n²
            diags.append(doc.diagnostic("/rules", "too-many-rules", f"{len(rules)} rules in one file; at most "
                                        f"{MAX_RULES} (the engine's own limits are lower: see engine/durable/)",
                                        have=len(rules), want=MAX_RULES))
            continue
        schema_errors = schema_diagnostics(doc, validator(kind))
        diags += schema_errors
        if not schema_errors:
            kinds[kind].append(doc)
    for kind in KINDS:
        if kind in SINGLE and len(kinds[kind]) > 1:
            for doc in kinds[kind][1:]:
                diags.append(doc.diagnostic("/kind", "duplicate-kind",
                                            f"only one {kind!r} file is allowed (also in {kinds[kind][0].path})"))
    if not any(d.severity == "error" for d in diags):
        diags += [Diagnostic(rules_root, 1, 1, "missing-kind", f"no valid rule file of kind {k!r}")
                  for k in KINDS if k not in OPTIONAL and not kinds[k]]
    return kinds, diags


