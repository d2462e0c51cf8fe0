"""Strict JSON loading: bytes in, a JSON value out, or :class:`IntakeError`.

Checks run cheapest first, so hostile input is rejected before it costs anything:

1. size: ``len(data) > max_bytes`` → ``too-large`` (before any decoding);
2. encoding: strict UTF-8; one leading BOM is dropped → ``not-utf8`` with the byte offset;
3. blank: nothing but whitespace → ``empty``;
4. depth: a linear bracket scan (strings skipped) → ``too-deep`` past ``max_depth`` levels, so the
   recursive stdlib decoder never sees deep input (a ``RecursionError`` is still caught);
5. syntax: :func:`json.loads` → ``invalid-json`` with line and column;
6. numbers: ``NaN``/``Infinity`` and floats that overflow (``1e999``) → ``non-finite-number``;
   integers longer than 100 digits → ``invalid-json`` (Python refuses >4300 digits anyway).

Duplicate object keys follow the stdlib (the last one wins).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from engine.intake.errors import IntakeError

MAX_DEPTH = 64
MAX_INT_DIGITS = 100
_BOM = b"\xef\xbb\xbf"
# A JSON string (unterminated strings run to the end, so no position is rescanned) or a bracket.
_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]', re.DOTALL)


def load(data: bytes, *, max_bytes: int = 1_048_576, max_depth: int = MAX_DEPTH) -> Any:
    """Decode one JSON document from ``data`` under the limits above."""
    if len(data) > max_bytes:
        raise IntakeError(
            f"file is {len(data)} bytes; the limit is {max_bytes} (--max-event-bytes)", "too-large"
        )
    offset = len(_BOM) if data.startswith(_BOM) else 0
    try:
        text = data[offset:].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise IntakeError(f"not valid UTF-8 at byte {exc.start + offset}", "not-utf8") from exc
    return loads(text, max_depth=max_depth)


def loads(text: str, *, max_depth: int = MAX_DEPTH) -> Any:
    """Decode JSON text (already size-checked and decoded); also used for JSON nested in a string."""
    if not text.strip():
        raise IntakeError("empty file", "empty")
    _check_depth(text, max_depth)
    try:
        return json.loads(
            text, parse_constant=_reject_constant, parse_float=_finite_float, parse_int=_bounded_int
        )
    except json.JSONDecodeError as exc:
        raise IntakeError(
            f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}", "invalid-json"
        ) from exc
    except RecursionError as exc:
        raise IntakeError(f"nesting deeper than {max_depth} levels", "too-deep") from exc


def depth(value: Any) -> int:
    """Nesting depth of a decoded value (a scalar is 0, ``{}`` is 1), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children)
    return deepest


def _check_depth(text: str, max_depth: int) -> None:
    if text.count("[") + text.count("{") <= max_depth:  # cannot nest deeper than it has openers
        return
    level = 0
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token in "[{":
            level += 1
            if level > max_depth:
                raise IntakeError(f"nesting deeper than {max_depth} levels", "too-deep")
        elif token in "]}":
            level -= 1


def _reject_constant(name: str) -> Any:
    raise IntakeError(f"{name} is not allowed (JSON numbers must be finite)", "non-finite-number")


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        shown = literal if len(literal) <= 40 else literal[:37] + "..."
        raise IntakeError(
            f"number {shown} is out of range (JSON numbers must be finite)", "non-finite-number"
        )
    return value


def _bounded_int(literal: str) -> int:
    if len(literal.lstrip("-")) > MAX_INT_DIGITS:
        raise IntakeError(
            f"integer with {len(literal.lstrip('-'))} digits is too large (at most {MAX_INT_DIGITS})",
            "invalid-json",
        )
    return int(literal)
