"""Rows the ledger hashes as they were inserted, instead of reading them back (engine/store/ledger.py).

:class:`Capture` keeps the parameters of each plain ``INSERT INTO t (c, …) VALUES (?, …)`` the audit
log ran in the open transaction (``Audit.flush``, ``Audit.insert``). At seal, :meth:`Capture.rows`
rebuilds a table's new rows as sqlite stores them — every column in table order, the rowid (the
``INTEGER PRIMARY KEY`` when given, else the next one), column affinity applied (an int in a REAL
column is a float, -0.0 there reads back 0.0, a bool is an int; a NaN sqlite stores as NULL, which orjson
writes alike) — and returns them only when that is certain:

- every value has a type its column stores unchanged (or converted exactly as above): a float in an
  INTEGER column, a number in a TEXT column or a column with a default refuses the capture;
- ``count(*)`` and ``max(rowid)`` above the last seal's mark equal the captured rows' (so no other
  statement — ``INSERT OR IGNORE``, another path, another process — wrote to the table).

Otherwise the table's rows are read back, as before: a capture can only make the seal faster, never
change what it hashes.

:meth:`Capture.sealed` hashes them: in C when built (``ledger_rows.hash_inserted``: the inserted tuples are
read in place, each value converted by the same rule, no row rebuilt in Python), else :meth:`Capture.rows`
and ``ledger_rows.hash_range``. Rows with explicit rowids take the Python path (they may need sorting).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from typing import Any

from engine.store.ledger_rows import ACCELERATED, hash_inserted, hash_range

_INSERT = re.compile(r'\s*INSERT INTO\s+"?(\w+)"?\s*\(([^)]*)\)\s*VALUES\s*\((\s*\?\s*(?:,\s*\?\s*)*)\)\s*$', re.I)
_NONE = type(None)
# affinity → types stored unchanged; and those converted (to float in REAL, to int elsewhere)
_KEEP: dict[str, set[type]] = {"INTEGER": {int, _NONE}, "TEXT": {str, bytes, _NONE}, "REAL": {float, _NONE},
                               "NUMERIC": {int, _NONE}, "BLOB": {int, float, str, bytes, _NONE}}
_LETTER = {"INTEGER": "I", "TEXT": "T", "REAL": "R", "NUMERIC": "N", "BLOB": "B"}
_CONVERT: dict[str, set[type]] = {"INTEGER": {bool}, "REAL": {int, bool}, "NUMERIC": {bool}, "BLOB": {bool},
                                  "TEXT": set()}


def affinity(declared: str) -> str:
    """sqlite's column affinity of a declared type (https://sqlite.org/datatype3.html §3.1)."""
    t = declared.upper()
    if "INT" in t:
        return "INTEGER"
    if any(k in t for k in ("CHAR", "CLOB", "TEXT")):
        return "TEXT"
    if "BLOB" in t or not t:
        return "BLOB"
    if any(k in t for k in ("REAL", "FLOA", "DOUB")):
        return "REAL"
    return "NUMERIC"


class Layout:
    """A table's columns as the ledger hashes them: names, affinities, the rowid alias, defaults."""

    def __init__(self, conn: sqlite3.Connection, table: str, ncols: int) -> None:
        info = conn.execute(f'PRAGMA table_info("{table}")').fetchall()[:ncols]
        self.cols = [r[1] for r in info]
        self.affinity = [affinity(r[2] or "") for r in info]
        self.defaults = {r[1] for r in info if r[4] is not None}
        pks = [r for r in info if r[5]]
        self.alias = pks[0][1] if len(pks) == 1 and (pks[0][2] or "").upper() == "INTEGER" else None
        self.letters = "_" + "".join(_LETTER[a] for a in self.affinity)  # for ledger_rows.hash_inserted
        self._index: dict[tuple[str, ...], tuple[int, ...] | None] = {}

    def index(self, cols: tuple[str, ...]) -> tuple[int, ...] | None:
        """Per table column, where an ``INSERT (cols…)`` row holds its value: -2 the rowid alias, -1 NULL (not
        inserted); None when a column not inserted has a default (its stored value is not known here)."""
        if cols not in self._index:
            at = {c: i for i, c in enumerate(cols)}
            out = [-2 if c == self.alias and c not in at else at.get(c, -1) for c in self.cols]
            missing = {c for c, i in zip(self.cols, out, strict=True) if i == -1}
            self._index[cols] = None if missing & self.defaults else tuple(out)
        return self._index[cols]


def _column(values: tuple[Any, ...], aff: str) -> tuple[Any, ...] | None:
    kinds = set(map(type, values))
    if kinds <= _KEEP[aff] and (aff != "REAL" or 0.0 not in values):
        return values
    if not kinds <= _KEEP[aff] | _CONVERT[aff]:
        return None
    if aff == "REAL":  # an int is a float there; and -0.0 reads back 0.0 (sqlite stores it as the integer 0)
        if any(abs(v) > 2 ** 53 for v in values if v.__class__ is int):
            return None
        return tuple(None if v is None else float(v) + 0.0 for v in values)
    return tuple(int(v) if v.__class__ is bool else v for v in values)


class Capture:
    def __init__(self) -> None:
        self._specs: dict[str, tuple[str, tuple[str, ...]] | None] = {}
        self._rows: dict[str, list[tuple[tuple[str, ...], list[tuple[Any, ...]]]]] = {}

    def add(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        """After ``executemany(sql, rows)`` succeeded in the open transaction."""
        if sql in self._specs:
            spec = self._specs[sql]
        else:
            m = _INSERT.match(sql)
            cols = tuple(c.strip().strip('"') for c in m.group(2).split(",")) if m else ()
            spec = self._specs[sql] = (m.group(1), cols) if m and len(cols) == m.group(3).count("?") else None
        if spec is not None and rows:
            self._rows.setdefault(spec[0], []).append((spec[1], rows))

    def clear(self) -> None:
        self._rows.clear()

    def __contains__(self, table: str) -> bool:
        return table in self._rows

    def sealed(self, table: str, layout: Layout, mark: int, count: int, high: int | None, where: list[int],
               ncols: int) -> tuple[int, int, int, bytes, list[str]] | None:
        """(first rowid, last rowid, rows, row hashes, column digests) of the table's rows above ``mark`` as
        sqlite stores them, hashed as ``ledger_rows.hash_range`` does; None when that is not certain."""
        chunks = self._rows.get(table, [])
        if ACCELERATED and all(layout.alias is None or layout.alias not in cols for cols, _ in chunks):
            n = sum(len(rows) for _, rows in chunks)
            if count != n or high != mark + n:
                return None
            spec = []
            for cols, rows in chunks:
                index = layout.index(cols)
                if index is None:
                    return None
                spec.append((index, rows))
            got = hash_inserted(table, spec, mark + 1, layout.letters, where, ncols)
            return None if got is None else (mark + 1, mark + n, n, *got)
        built = self.rows(table, layout, mark, count, high)
        if built is None:
            return None
        return (built[0][0], built[-1][0], len(built), *hash_range(table, built, where, ncols))

    def rows(self, table: str, layout: Layout, mark: int, count: int, high: int | None) -> list[tuple[Any, ...]] | None:
        """The table's rows above ``mark`` as sqlite stores them, or None when that is not certain: ``count``
        and ``high`` are what the table holds (``count(*)`` above ``mark``, ``max(rowid)``)."""
        out: list[tuple[Any, ...]] = []
        top, ordered = mark, True
        for cols, rows in self._rows.get(table, []):
            columns = list(zip(*rows, strict=True))  # raises on rows of unequal length: executemany took them
            if len(columns) != len(cols):
                return None
            by_name = dict(zip(cols, columns, strict=True))
            n = len(rows)
            ids: Sequence[int]
            if layout.alias is not None and layout.alias in by_name:
                ids = by_name[layout.alias]
                if set(map(type, ids)) != {int}:
                    return None
                ordered = ordered and ids[0] > top and all(a < b for a, b in zip(ids, ids[1:], strict=False))
            else:
                ids = range(top + 1, top + 1 + n)
            built: list[tuple[Any, ...]] = []
            for name, aff in zip(layout.cols, layout.affinity, strict=True):
                if name == layout.alias:
                    built.append(tuple(ids))  # the rowid alias reads back as the rowid
                    continue
                if name not in by_name:
                    if name in layout.defaults:
                        return None
                    built.append((None,) * n)
                    continue
                col = _column(by_name[name], aff)
                if col is None:
                    return None
                built.append(col)
            top = max(top, max(ids))
            out += zip(ids, *built, strict=True)
        if not ordered:
            out.sort(key=lambda r: r[0])
        if count != len(out) or high != (out[-1][0] if out else None) or (
                not ordered and len({r[0] for r in out}) != len(out)):
            return None
        return out
