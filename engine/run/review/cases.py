"""Test cases: YAML files next to the rules (``*.test.yaml``) and event files with ``expect`` blocks.

A test file (``schemas/tests.schema.json``; ``kind: tests``)::

    kind: tests
    version: 1
    start: "2025-01-06T10:00:00Z"     # the virtual clock of every case (default 2025-01-01T00:00:00Z)
    model: none                       # none | configured | {label: MAJOR, confidence: 0.93}
    cases:
      - name: availability below one half pages the owner and fails over
        events:
          - service: payment-api
            metrics: {availability: 0.4}
        script: [{at: "+2m", ack: alice@company.com}]
        expect: {severity: CRITICAL, rule: service-unavailable, owner: backend, actions: [failover]}

Each event is a canonical event (``schemas/event.schema.json``) whose ``event_id`` defaults to
``<case>-<n>`` and whose ``timestamp`` is ``start`` plus its ``at`` offset (``+5m``; default
``+0s``). Events are decided in order, each at its own time on a fresh audit log per case, so
``history.*`` facts count the case's earlier events. ``expect`` and ``script`` at case level go
with the last event; an event may carry its own ``expect`` (with ``script``). The expectation
keys are those of :mod:`engine.run.review.expect`.

An event file (``*.json``) with at least one ``expect`` block is one case named after the file.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from engine.compiler.load import TEST_SUFFIXES, load_bytes
from engine.model.event import SEVERITIES, parse_offset
from engine.resources import resource

DEFAULT_START = datetime(2025, 1, 1, tzinfo=UTC)


@dataclass
class Item:
    """One intake file of a case: its bytes and the expectations per event id."""

    name: str
    data: bytes
    expect: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class Case:
    name: str
    file: str
    line: int = 1
    items: list[Item] = field(default_factory=list)
    model: Any = "configured"
    start: datetime = DEFAULT_START
    error: str = ""  # a malformed case: reported as ERROR

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


def is_test_file(path: Path) -> bool:
    return path.name.endswith(TEST_SUFFIXES)


def discover(paths: list[Path]) -> list[Path]:
    """Test files and event files under ``paths`` (sorted per directory; files as given)."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out += sorted(x for x in p.rglob("*") if x.is_file() and (is_test_file(x) or x.suffix == ".json"))
        else:
            out.append(p)
    return out


def load(paths: list[Path]) -> list[Case]:
    cases: list[Case] = []
    for path in discover(paths):
        cases += load_test_file(path) if is_test_file(path) else event_file_cases(path)
    return cases


def event_file_cases(path: Path) -> list[Case]:
    """An event file with ``expect`` blocks as one case (none when it has no expectation)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return [Case(str(path), str(path), error=f"cannot read: {exc.strerror}")]
    try:
        doc = json.loads(data)
    except ValueError as exc:
        return [Case(str(path), str(path), error=f"invalid JSON: {exc}")]
    expect = expectations(doc)
    return [Case(path.name, str(path), items=[Item(str(path), data, expect)])] if expect else []


def expectations(doc: Any) -> dict[str, dict[str, Any]]:
    """``{event_id: expect}`` of a parsed event file (only well-formed items: others fail intake)."""
    docs = doc if isinstance(doc, list) else [doc]
    return {d["event_id"]: d["expect"] for d in docs
            if isinstance(d, dict) and d.get("expect") and isinstance(d.get("event_id"), str)}


@cache
def _validator() -> Any:
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    schemas = resource("schemas")
    event = json.loads((schemas / "event.schema.json").read_text())
    registry = Registry().with_resource(event["$id"], Resource.from_contents(event))
    return Draft202012Validator(json.loads((schemas / "tests.schema.json").read_text()), registry=registry)


def load_test_file(path: Path) -> list[Case]:
    shown = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return [Case(shown, shown, error=f"cannot read: {exc.strerror}")]
    doc, problems = load_bytes(raw, shown)
    if doc is None:
        p = problems[0]
        return [Case(shown, shown, p.line, error=f"{p.file}:{p.line}:{p.col}: {p.message}")]
    errors = sorted(_validator().iter_errors(doc.data), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        pointer = "".join(f"/{p}" for p in err.absolute_path)
        line, col = doc.where(pointer)
        return [Case(shown, shown, line, error=f"{shown}:{line}:{col}: {pointer or '/'}: {err.message}")]
    data = doc.data
    start = _time(data.get("start")) or DEFAULT_START
    cases = []
    for i, raw_case in enumerate(data["cases"]):
        line = doc.where(f"/cases/{i}")[0]
        name = raw_case["name"]
        try:
            items = _items(raw_case, start)
        except ValueError as exc:
            cases.append(Case(name, shown, line, error=f"{shown}:{line}: {exc}"))
            continue
        cases.append(Case(name, shown, line, items, raw_case.get("model", data.get("model", "configured")),
                          _time(raw_case.get("start")) or start))
    return cases


def _time(value: Any) -> datetime | None:
    if value is None:
        return None
    stamp = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")[:80] or "case"


def _items(raw: dict[str, Any], start: datetime) -> list[Item]:
    base = _time(raw.get("start")) or start
    events = [dict(e) for e in raw["events"]]
    items = []
    for n, event in enumerate(events, 1):
        offset = parse_offset(event.pop("at", 0))
        event.setdefault("event_id", f"{slug(raw['name'])}-{n}")
        event.setdefault("timestamp", (base + timedelta(seconds=offset)).isoformat().replace("+00:00", "Z"))
        expect = dict(event.get("expect") or {})
        if n == len(events):
            expect.update({k: v for k, v in (raw.get("expect") or {}).items()})
            if raw.get("script") is not None:
                expect["script"] = raw["script"]
        if expect:
            event["expect"] = expect
        name = f"{raw['name']}#{n}"
        ids = event["event_id"] if isinstance(event["event_id"], str) else ""
        items.append(Item(name, json.dumps(event).encode(), {ids: expect} if expect and ids else {}))
    return items


# --- a fixed model verdict for a case ------------------------------------------------------------

class _Fixed:
    """A classifier that gives every event the same verdict (a case's ``model: {label, confidence}``)."""

    labels = SEVERITIES

    def __init__(self, label: str, confidence: float) -> None:
        rest = (1.0 - confidence) / (len(SEVERITIES) - 1)
        self._p = {s: (confidence if s == label else rest) for s in SEVERITIES}

    def probabilities(self, event: Any) -> dict[str, float]:
        return dict(self._p)


def fixed_model(label: str, confidence: float) -> Any:
    from engine.decide.classify import ModelState

    return ModelState(_Fixed(label, confidence), f"fixed {label} {confidence:g}")  # type: ignore[arg-type]
