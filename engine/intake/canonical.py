"""Canonical files: an :class:`~engine.model.event.Event` object (has ``event_id``), an
:class:`~engine.model.event.Acknowledgement` (``"type": "ack"`` or ``"resolve"``), or a JSON list of
either. Nothing is mapped: the document is validated as-is, and every validation error becomes
one ``schema`` reason with a JSON pointer into the file (``/1/metrics/cpu: …``), at most five
per item and five invalid items, joined by ``; ``. An empty list is valid and yields no events.
With ``quarantine`` (the pipeline's mode) each bad item of a list is quarantined on its own instead
(:mod:`engine.intake.quarantine`) and the others are decided.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ValidationError

from engine.intake.errors import IntakeError
from engine.intake.normalize import MAX_ERRORS, schema_error
from engine.intake.quarantine import Quarantined, item_size, quarantined
from engine.model.event import Acknowledgement, Event

NAME = "canonical"


def matches(doc: Any) -> bool:
    if isinstance(doc, list):
        return True
    return isinstance(doc, dict) and ("event_id" in doc or doc.get("type") in ("ack", "resolve"))


def normalize(doc: Any, *, now: datetime, max_item_bytes: int = 0,
              quarantine: bool = False) -> list[Event | Acknowledgement | Quarantined]:
    """``quarantine``: a bad item of a list (or one over ``max_item_bytes``) becomes a
    :class:`Quarantined` and the others go on; without it the whole list is rejected."""
    if isinstance(doc, dict):
        return [_one(doc, "")]
    out: list[Event | Acknowledgement | Quarantined] = []
    problems: list[str] = []
    for index, item in enumerate(doc):
        if len(problems) == MAX_ERRORS and not quarantine:  # rejected anyway; don't validate 100k more items
            problems.append(f"stopped after {MAX_ERRORS} invalid items of {len(doc)}")
            break
        try:
            if not isinstance(item, dict):
                raise IntakeError(f"schema: /{index}: expected an object, got {_kind(item)}", "schema")
            if max_item_bytes and (size := item_size(item)) > max_item_bytes:
                raise IntakeError(f"/{index}: event is {size} bytes; the limit per event is {max_item_bytes} "
                                  "(--max-event-bytes)", "too-large")
            out.append(_one(item, f"/{index}"))
        except IntakeError as exc:
            if quarantine:
                out.append(quarantined(f"/{index}", exc.code, exc.reason, item))
            else:
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
