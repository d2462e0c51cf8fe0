"""Rows hashed as inserted (``Capture.sealed``: C's ``seal_inserted`` when built, else ``Capture.rows``) give the
very bytes of the rows sqlite hands back, on generated tables of every affinity; and the C path refuses exactly
what the Python rule refuses (so neither can hash a value sqlite stored differently)."""

from __future__ import annotations

import sqlite3
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.store.ledger_capture import Capture, Layout
from engine.store.ledger_rows import ACCELERATED, MARK, hash_range_py, range_sql

DECLARED = ["INTEGER", "TEXT", "REAL", "NUMERIC", "BLOB", "", "VARCHAR(8)", "DOUBLE", "BOOLEAN"]
# what the sqlite3 module binds: 64-bit ints, floats (NaN and -0.0 included), text without lone surrogates, bytes
bindable = st.one_of(
    st.none(), st.booleans(), st.integers(-(2 ** 63), 2 ** 63 - 1), st.integers(-3, 3),
    st.sampled_from([2 ** 53, 2 ** 53 + 1, -(2 ** 53) - 1, 2 ** 63 - 1]),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, -0.0, 1.0, 1e16, 2.5]),
    st.text(st.characters(exclude_categories=("Cs",)), max_size=6), st.sampled_from(["12", "1.5", " 3", MARK + "ab"]),
    st.binary(max_size=4),
)


@st.composite
def tables(draw: Any) -> tuple[list[str], str | None, set[str], list[str], list[tuple[Any, ...]], list[int]]:
    ncols = draw(st.integers(1, 5))
    names = [f"c{i}" for i in range(ncols)]
    decls = [draw(st.sampled_from(DECLARED)) for _ in names]
    alias = draw(st.sampled_from([None, *names]))
    if alias is not None:
        decls[names.index(alias)] = "INTEGER PRIMARY KEY"
    defaults = set(draw(st.sets(st.sampled_from(names), max_size=1))) - {alias}
    columns = [f"{n} {d}" + (" DEFAULT 7" if n in defaults else "") for n, d in zip(names, decls, strict=True)]
    inserted = draw(st.lists(st.sampled_from(names), min_size=1, unique=True))
    n = draw(st.integers(1, 6))
    rows = []
    for r in range(n):
        rows.append(tuple(r + 1 if c == alias else draw(bindable) for c in inserted))  # ids ascending, unique
    where = sorted(draw(st.sets(st.integers(1, ncols), max_size=2)))
    return columns, alias, defaults, inserted, rows, where


@settings(max_examples=400, deadline=None)
@given(tables())
def test_inserted_rows_hash_as_read_back(case: Any) -> None:
    columns, alias, _defaults, inserted, rows, where = case
    conn = sqlite3.connect(":memory:")
    conn.execute(f"CREATE TABLE t ({', '.join(columns)})")
    sql = f"INSERT INTO t ({', '.join(inserted)}) VALUES ({', '.join('?' * len(inserted))})"
    conn.executemany(sql, rows)
    capture = Capture()
    capture.add(sql, rows)
    ncols = len(columns)
    layout = Layout(conn, "t", ncols)
    count, high = conn.execute("SELECT count(*), max(rowid) FROM t").fetchone()
    read = conn.execute(range_sql("t", layout.cols), (0, 1 << 62)).fetchall()
    expect = (read[0][0], read[-1][0], len(read), *hash_range_py("t", read, where, ncols))

    got = capture.sealed("t", layout, 0, count, high, where, ncols)
    python = capture.rows("t", layout, 0, count, high)
    if got is not None:
        assert got == expect
    if python is not None:
        assert hash_range_py("t", python, where, ncols) == expect[3:]
    if ACCELERATED and alias not in inserted:  # the C path: sure exactly when the Python rule is
        assert (got is None) == (python is None)


def test_conversions_are_captured_not_read_back() -> None:
    """The certain conversions (an int or a bool in a REAL column, -0.0 there, a bool elsewhere, a NaN, a missing
    column) are hashed from the capture, so a test above that always fell back to reading back would fail here."""
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, r REAL, i INTEGER, b BLOB, x TEXT)")
    sql = "INSERT INTO t (r, i, b) VALUES (?, ?, ?)"
    rows = [(1, True, False), (True, 2, 3.5), (None, None, "s"), (-0.0, 0, -0.0), (float("nan"), 1, float("nan"))]
    conn.executemany(sql, rows)
    capture = Capture()
    capture.add(sql, rows)
    layout = Layout(conn, "t", 5)
    read = conn.execute(range_sql("t", layout.cols), (0, 1 << 62)).fetchall()
    assert read == [(1, 1, 1.0, 1, 0, None), (2, 2, 1.0, 2, 3.5, None), (3, 3, None, None, "s", None),
                    (4, 4, 0.0, 0, -0.0, None), (5, 5, None, 1, None, None)]  # -0.0 in REAL is 0.0; NaN is NULL
    assert str(read[3][2]) == "0.0" and str(read[3][4]) == "-0.0"
    for where in ([], [2], [4]):
        assert capture.sealed("t", layout, 0, 5, 5, where, 5) == (1, 5, 5, *hash_range_py("t", read, where, 5))
        python = capture.rows("t", layout, 0, 5, 5)
        assert python is not None
        assert hash_range_py("t", python, where, 5) == hash_range_py("t", read, where, 5)
