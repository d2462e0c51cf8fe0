"""Canonical files: an :class:`~engine.model.event.Event` object (has ``event_id``), an
:class:`~engine.model.event.Acknowledgement` (``"type": "ack"`` or ``"resolve"``), or a JSON list of
either. Nothing is mapped: the document is validated as-is, and every validation error becomes
one ``schema`` reason with a JSON pointer into the file (``/1/metrics/cpu: …``), at most five
per item and five invalid items, joined by ``; ``. An empty list is valid and yields no events.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ValidationError

from engine.intake.errors import IntakeError
from engine.intake.normalize import MAX_ERRORS, schema_error
from engine.model.event import Acknowledgement, Event

NAME = "canonical"


def matches(doc: Any) -> bool:
    if isinstance(doc, list):
        return True
    return isinstance(doc, dict) and ("event_id" in doc or doc.get("type") in ("ack", "resolve"))


def normalize(doc: Any, *, now: datetime) -> list[Event | Acknowledgement]:
    if isinstance(doc, dict):
        return [_one(doc, "")]
    out: list[Event | Acknowledgement] = []
    problems: list[str] = []
    for index, item in enumerate(doc):
        if len(problems) == MAX_ERRORS:  # the file is rejected anyway; don't validate 100k more items
            problems.append(f"stopped after {MAX_ERRORS} invalid items of {len(doc)}")
            break
        try:
            if not isinstance(item, dict):
                raise IntakeError(f"schema: /{index}: expected an object, got {_kind(item)}", "schema")
            out.append(_one(item, f"/{index}"))
        except IntakeError as exc:
            problems.append(exc.reason.removeprefix("schema: "))
    if problems:
        raise IntakeError("schema: " + "; ".join(problems), "schema")
    return out


def _one(doc: dict[str, Any], base: str) -> Event | Acknowledgement:
    model: type[Event] | type[Acknowledgement] = Acknowledgement if "type" in doc else Event
    try:  # model_validate without its keyword plumbing (the same call with the defaults; hot path)
        return model.__pydantic_validator__.validate_python(doc)
    except ValidationError as exc:
        raise schema_error(exc, base=base) from exc


def _kind(value: Any) -> str:
    return {str: "a string", bool: "a boolean", int: "a number", float: "a number", list: "an array"}.get(
        type(value), "null"
    )
