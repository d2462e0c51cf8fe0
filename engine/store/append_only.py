"""The triggers that make an audit table append-only: an UPDATE or DELETE on it aborts.

One definition for every table of the log (migrations, ledger, rollups, retention, redaction); the
two paths that legitimately change rows (prune, redact) lift one trigger inside their transaction
and restore it before the commit."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

OPS = ("UPDATE", "DELETE")


def guard(conn: sqlite3.Connection, table: str, ops: Iterable[str] = OPS) -> None:
    """Create ``table``'s append-only triggers for ``ops`` (kept if they exist)."""
    for op in ops:
        conn.execute(f"CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON {table} "
                     f"BEGIN SELECT RAISE(ABORT, 'audit log is append-only: {op} on {table} refused'); END")


def create_tables(conn: sqlite3.Connection, tables: dict[str, str]) -> None:
    """``CREATE TABLE IF NOT EXISTS name (columns)`` for each, append-only."""
    for name, cols in tables.items():
        conn.execute(f"CREATE TABLE IF NOT EXISTS {name} ({cols})")
        guard(conn, name)


def lift(conn: sqlite3.Connection, table: str, op: str) -> None:
    """Drop ``table``'s trigger for ``op`` (inside the transaction that then restores it with :func:`guard`)."""
    conn.execute(f"DROP TRIGGER IF EXISTS {table}_no_{op.lower()}")
