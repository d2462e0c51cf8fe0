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

Duplicate object keys follow the stdlib (the last one wins, at the key's first position).

Fast path: a document is first handed to ``orjson`` (about 7x faster than :mod:`json`). Its result
is used only when it is what the checks above would return: orjson rejects NaN/Infinity,
overflowing floats and invalid UTF-8 itself, parses floats to the same (correctly rounded) values
and resolves duplicate keys like the stdlib. It does NOT keep integers outside 64 bits (it turns
them into floats), so a document with a run of 19 or more digits that may be an integer literal
skips the fast path, and so does one nested deeper than ``max_depth``. Whenever orjson rejects a
document or the fast path is skipped, the stdlib path above runs, so every rejection keeps its
code and reason.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import orjson

from engine.intake.errors import IntakeError

MAX_DEPTH = 64
MAX_INT_DIGITS = 100
_BOM = b"\xef\xbb\xbf"
# A JSON string (unterminated strings run to the end, so no position is rescanned) or a bracket.
_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]', re.DOTALL)
# A run of 19+ digits that starts a digit run and is not followed by a fraction or an exponent: an
# integer literal orjson may not keep exact (it also matches inside strings and exponents; harmless).
_LONG_INT = re.compile(rb"(?<![0-9.])[0-9]{19,}(?![0-9.eE])")
# Cheap pre-filters (a regex scan costs ~5 µs an event) work on a mask of the document: digits become
# "0", "." stays, "]" and "}" become "]", everything else " ". A long integer needs a run of 19 "0"s
# at the start or after " " (so after "[", ":", ",", "-", whitespace...). A valid document nests no
# deeper than it has closers, counted as "]".
_MASK = bytes(48 if 48 <= b <= 57 else b if b == 46 else 93 if b in (93, 125) else 32 for b in range(256))
_RUN = b"0" * 19
_SPACE_RUN = re.compile(b" " + _RUN)  # a literal: re searches it faster than ``in`` does here
_SKIP = object()  # the fast path declined: use the stdlib path


def load(data: bytes, *, max_bytes: int = 1_048_576, max_depth: int = MAX_DEPTH) -> Any:
    """Decode one JSON document from ``data`` under the limits above."""
    if len(data) > max_bytes:
        raise IntakeError(
            f"file is {len(data)} bytes; the limit is {max_bytes} (--max-body-bytes)", "too-large"
        )
    offset = len(_BOM) if data.startswith(_BOM) else 0
    body = data[offset:] if offset else data
    value = _fast(body, max_depth)
    if value is not _SKIP:
        return value
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise IntakeError(f"not valid UTF-8 at byte {exc.start + offset}", "not-utf8") from exc
    return _strict_loads(text, max_depth=max_depth)


def loads(text: str, *, max_depth: int = MAX_DEPTH) -> Any:
    """Decode JSON text (already size-checked and decoded); also used for JSON nested in a string."""
    try:
        value = _fast(text.encode("utf-8"), max_depth)
    except UnicodeEncodeError:  # a lone surrogate: orjson refuses it, the stdlib keeps it
        value = _SKIP
    if value is not _SKIP:
        return value
    return _strict_loads(text, max_depth=max_depth)


def _fast(doc: bytes, max_depth: int) -> Any:
    """orjson's value for ``doc`` when the stdlib path would return the same value, else ``_SKIP``."""
    masked = doc.translate(_MASK)
    if _RUN in masked and (masked.startswith(_RUN) or _SPACE_RUN.search(masked)) and _LONG_INT.search(doc):
        return _SKIP  # orjson would turn an integer beyond 64 bits into a float
    try:
        value = orjson.loads(doc)
    except (ValueError, RecursionError):  # orjson.JSONDecodeError is a ValueError
        return _SKIP
    if masked.count(b"]") > max_depth and depth(value) > max_depth:
        return _SKIP  # the stdlib path says too-deep
    return value


def _strict_loads(text: str, *, max_depth: int = MAX_DEPTH) -> Any:
    """The stdlib path: every check in the module docstring, with its code and reason."""
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
