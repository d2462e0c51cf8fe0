"""How the ledger hashes a row (engine/store/ledger.py seals, ledger_verify.py recomputes).

A ledger range is ``[table, lo, hi, count, ncols]`` (format 1: the whole row is hashed) or
``[table, lo, hi, count, ncols, [column, …]]`` (format 2: those columns enter the row hash by their
own hash). Format 1 is what logs sealed before per-column hashes hold, and still verifies.

- ``row_hash = SHA-256(0x00 ‖ table ‖ 0x00 ‖ orjson([rowid, c₁, …]))`` with, in format 2, each listed
  column ``cᵢ`` replaced by ``"sha256:" + hex(SHA-256(orjson(value)))``;
- a *redacted* cell (``rules history redact``) holds ``"redacted:sha256:<hex>"``: the hash it replaced,
  which enters the row hash exactly as the value did, so the row hash, the transaction's Merkle root and
  the chain are unchanged; a marker with another hash changes the row hash, and ``verify`` names the cell.

Only payload-bearing columns (:data:`HASHED`) are hashed on their own: each costs one more SHA-256 per row.

The functions below are the definition. :func:`hash_range` (what the seal and ``verify`` call) computes
the same bytes in C when ``engine/store/_sealc.c`` was built (:data:`ACCELERATED`), with one call per
range instead of several Python calls per row; ``tests/store/test_sealc.py`` holds the two equal.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

try:
    from engine.store import _sealc  # type: ignore[attr-defined]
except ImportError:  # built without a C compiler or OpenSSL headers: the definition below, in Python
    _sealc = None
ACCELERATED = _sealc is not None

# table → the columns that may be redacted (event payloads and what is rendered from them)
HASHED: dict[str, tuple[str, ...]] = {"events": ("payload",), "facts": ("fact",), "actions": ("intent",),
                                      "attempts": ("detail",), "results": ("detail",)}
MARK = "redacted:sha256:"
_TAG = "sha256:"


def _blob(value: Any) -> str:
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(type(value).__name__)


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=_blob)


def range_sql(table: str, cols: list[str]) -> str:
    """The rows of ``table`` in a rowid range, as the ledger hashes them: rowid first, then ``cols``."""
    return f'SELECT rowid, {", ".join(chr(34) + c + chr(34) for c in cols)} FROM "{table}" ' \
        "WHERE rowid > ? AND rowid <= ? ORDER BY rowid"


def hashed_columns(table: str, cols: list[str]) -> list[str]:
    """The columns of ``table`` a new range hashes on their own (format 2), in column order."""
    names = HASHED.get(table, ())
    return [c for c in cols if c in names]


def parse_range(r: list[Any]) -> tuple[str, int, int, int, int, list[str]]:
    """(table, lo, hi, count, ncols, hashed columns) of a stored range of either format."""
    table, lo, hi, count, ncols, *rest = r
    return table, lo, hi, count, ncols, list(rest[0]) if rest else []


def cell_hash(value: Any) -> str:
    """What a hashed column contributes to its row's hash: its marker's hash when redacted."""
    if isinstance(value, str) and value.startswith(MARK):
        return _TAG + value[len(MARK):]
    return _TAG + hashlib.sha256(dumps(value)).hexdigest()


def marker(value: Any) -> str:
    """The redaction marker that replaces ``value`` (itself when already redacted)."""
    return MARK + cell_hash(value)[len(_TAG):]


def encode(rows: list[tuple[Any, ...]], positions: list[int]) -> list[tuple[Any, ...]]:
    """The rows as hashed: each value at ``positions`` (indexes in the row, rowid at 0) by its cell hash."""
    if not positions:
        return rows
    sha, enc, blob, n = hashlib.sha256, orjson.dumps, _blob, len(MARK)

    def cell(v: Any) -> str:
        if v.__class__ is str and v.startswith(MARK):
            return _TAG + v[n:]
        return _TAG + sha(enc(v, default=blob)).hexdigest()

    if len(positions) == 1:  # every table of HASHED: one slice per row, no per-row list
        i = positions[0]
        return [(*r[:i], cell(r[i]), *r[i + 1:]) for r in rows]
    out = []
    for r in rows:
        row = list(r)
        for i in positions:
            row[i] = cell(row[i])
        out.append(tuple(row))
    return out


def positions(cols: list[str], hashed: list[str]) -> list[int]:
    return [cols.index(c) + 1 for c in hashed if c in cols]


def hash_rows(table: str, rows: list[tuple[Any, ...]]) -> list[bytes]:
    """``SHA-256(0x00 ‖ table ‖ 0x00 ‖ orjson([rowid, columns…]))`` per (already encoded) row."""
    prefix = b"\x00" + table.encode() + b"\x00"
    sha, enc, blob = hashlib.sha256, orjson.dumps, _blob
    return [sha(prefix + enc(r, default=blob)).digest() for r in rows]


def col_digests(rows: list[tuple[Any, ...]], ncols: int) -> list[str]:
    """Per column, a digest of its (encoded) values in rowid order: ``verify`` compares them to name a
    changed column."""
    columns = list(zip(*rows, strict=True))[1:ncols + 1]  # transposed in C: no Python loop per value
    return [hashlib.sha256(dumps(c)).hexdigest()[:16] for c in columns]


def hash_range_py(table: str, rows: list[tuple[Any, ...]], where: list[int], ncols: int) -> tuple[bytes, list[str]]:
    """The concatenated row hashes and the column digests of one table range (rows as read, rowid first)."""
    encoded = encode(rows, where)
    return b"".join(hash_rows(table, encoded)), col_digests(encoded, ncols) if encoded else []


def hash_inserted(table: str, chunks: list[tuple[tuple[int, ...], list[tuple[Any, ...]]]], start: int, letters: str,
                  where: list[int], ncols: int) -> tuple[bytes, list[str]] | None:
    """:func:`hash_range` of rows as inserted (``engine/store/ledger_capture.py``), in C only: None when a value's
    stored form is not certain. ``letters``: each column's affinity (I T R N B) after a placeholder for the rowid."""
    assert _sealc is not None
    got: tuple[bytes, list[str]] | None = _sealc.seal_inserted(b"\x00" + table.encode() + b"\x00", chunks, start,
                                                                letters, tuple(where), ncols, MARK, dumps)
    return got


def hash_range(table: str, rows: list[tuple[Any, ...]], where: list[int], ncols: int) -> tuple[bytes, list[str]]:
    """:func:`hash_range_py`, in C when built: the same bytes."""
    if _sealc is None:
        return hash_range_py(table, rows, where, ncols)
    hashes, digests = _sealc.seal_rows(b"\x00" + table.encode() + b"\x00", rows, tuple(where), ncols, MARK, dumps)
    return hashes, digests
