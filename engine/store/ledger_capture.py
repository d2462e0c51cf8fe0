"""Rows the ledger hashes as they were inserted, instead of reading them back (engine/store/ledger.py).

:class:`Capture` keeps the parameters of each plain ``INSERT INTO t (c, …) VALUES (?, …)`` the audit
log ran in the open transaction (``Audit.flush``, ``Audit.insert``). At seal, :meth:`Capture.rows`
rebuilds a table's new rows as sqlite stores them — every column in table order, the rowid (the
``INTEGER PRIMARY KEY`` when given, else the next one), column affinity applied (an int in a REAL
column is a float, a bool an int) — and returns them only when that is certain:

- every value has a type its column stores unchanged (or converted exactly as above): a float in an
  INTEGER column, a number in a TEXT column or a column with a default refuses the capture;
- ``count(*)`` and ``max(rowid)`` above the last seal's mark equal the captured rows' (so no other
  statement — ``INSERT OR IGNORE``, another path, another process — wrote to the table).

Otherwise the table's rows are read back, as before: a capture can only make the seal faster, never
change what it hashes.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from typing import Any

_INSERT = re.compile(r'\s*INSERT INTO\s+"?(\w+)"?\s*\(([^)]*)\)\s*VALUES\s*\((\s*\?\s*(?:,\s*\?\s*)*)\)\s*$', re.I)
_NONE = type(None)
# affinity → types stored unchanged; and those converted (to float in REAL, to int elsewhere)
_KEEP: dict[str, set[type]] = {"INTEGER": {int, _NONE}, "TEXT": {str, bytes, _NONE}, "REAL": {float, _NONE},
                               "NUMERIC": {int, _NONE}, "BLOB": {int, float, str, bytes, _NONE}}
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


def _column(values: tuple[Any, ...], aff: str) -> tuple[Any, ...] | None:
    kinds = set(map(type, values))
    if kinds <= _KEEP[aff]:
        return values
    if not kinds <= _KEEP[aff] | _CONVERT[aff]:
        return None
    if aff == "REAL":
        if any(abs(v) > 2 ** 53 for v in values if v.__class__ is int):
            return None
        return tuple(None if v is None else float(v) for v in values)
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

    def rows(self, conn: sqlite3.Connection, table: str, layout: Layout, mark: int) -> list[tuple[Any, ...]] | None:
        """The table's rows above ``mark`` as sqlite stores them, or None when that is not certain."""
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
        count, high = conn.execute(f'SELECT count(*), max(rowid) FROM "{table}" WHERE rowid > ?', (mark,)).fetchone()
        if count != len(out) or high != (out[-1][0] if out else None) or (
                not ordered and len({r[0] for r in out}) != len(out)):
            return None
        return out
