"""The tamper-evident ledger: one entry per committed transaction binding every row it wrote.

Hook: the audit log calls :meth:`Ledger.seal` inside each transaction just before ``COMMIT`` and
:meth:`Ledger.committed` after it (or :meth:`Ledger.discard` on rollback). ``seal`` finds the
rows written since the last entry by rowid (every table is append-only, so new rows are exactly
those above the previous entry's marks: no write path can be forgotten) and inserts, in the same
transaction, ``ledger(seq, at, ranges, row_hashes, col_digests, tx_root, leaf, chain, marks, foreign)``:

- ``row_hash = SHA-256(0x00 ‖ table ‖ 0x00 ‖ JSON([rowid, columns…]))``, the row read back from
  sqlite (so typed as stored) and encoded by orjson (shortest round-trip floats, UTF-8), payload
  columns by their own hash so they can be redacted (engine/store/ledger_rows.py); a column
  added later is not part of older rows' hashes (each range records its column count);
- ``tx_root`` = RFC 6962 Merkle root over the transaction's row hashes (table order, then rowid);
  ``leaf = SHA-256(0x00 ‖ tx_root)``, the transaction's leaf in the log's Merkle tree;
- ``chain = SHA-256(chain₋₁ ‖ leaf)``; ``col_digests``: per table range, SHA-256 of each column's
  values in order (so ``verify`` names the column of a changed cell);
- ``foreign``: rows above the marks that this connection did not write (inserted between
  transactions by someone else): bound from now on, and reported by ``verify``.

Checkpoints (:mod:`engine.store.ledger_note`) every ``every`` entries or ``seconds`` seconds, at
:meth:`close` and at prune, go to ``ledger_checkpoints`` and to the sink directory outside the database.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from engine.store import ledger_note
from engine.store.append_only import create_tables
from engine.store.ledger_capture import Capture, Layout
from engine.store.ledger_merkle import CompactRange, leaf_hash, root_of
from engine.store.ledger_rows import col_digests, hash_range, hash_rows, hashed_columns, positions, range_sql

__all__ = ["GENESIS", "LEDGER_TABLES", "Ledger", "col_digests", "covered_tables", "enabled", "hash_rows", "range_sql"]

LEDGER_TABLES = ("ledger", "ledger_checkpoints")
SCHEMA = {
    "ledger": "seq INTEGER PRIMARY KEY, at TEXT, ranges TEXT, row_hashes BLOB, col_digests TEXT, tx_root BLOB, "
              "leaf BLOB, chain BLOB, marks TEXT, foreign_rows INTEGER",
    "ledger_checkpoints": "id INTEGER PRIMARY KEY, size INTEGER, root TEXT, chain TEXT, kind TEXT, key_id TEXT, "
                          "note TEXT, compact TEXT, at TEXT",
}
GENESIS = b"\x00" * 32


def enabled() -> bool:
    return os.environ.get("ESCALATION_LEDGER", "on").lower() not in ("off", "0", "false", "no")


def covered_tables(conn: sqlite3.Connection) -> dict[str, list[str]]:
    """table → columns of every table the ledger binds (all but its own and sqlite's), by name."""
    names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    return {n: [c[1] for c in conn.execute(f"PRAGMA table_info({n})")] for n in names
            if n not in LEDGER_TABLES and not n.startswith("sqlite_")}


class Ledger:
    """Seals each transaction of one connection; see the module docstring."""

    def __init__(self, conn: sqlite3.Connection, *, clock: Any = None, every: int | None = None,
                 seconds: float | None = None, sink: str | None = None, key: Any = None) -> None:
        self.conn = conn
        self.clock = clock or (lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        self.every = every or int(os.environ.get("ESCALATION_LEDGER_EVERY", "1000"))
        self.seconds = seconds if seconds is not None else float(os.environ.get("ESCALATION_LEDGER_SECONDS", "60"))
        self.sink = sink if sink is not None else os.environ.get("ESCALATION_LEDGER_SINK") or None
        self.key = key if key is not None else ledger_note.key_from_env()
        create_tables(conn, SCHEMA)
        self._schema = -1
        self._tables: dict[str, list[str]] = {}
        self._sql: dict[str, str] = {}
        self._probe = ""  # one statement: per covered table, count(*) above its mark and max(rowid)
        self._hashed: dict[str, tuple[list[str], list[int]]] = {}
        self._layouts: dict[str, Layout] = {}
        self.capture = Capture()  # rows as inserted this transaction (engine/store/ledger_capture.py)
        self.read_back = 0  # tables whose new rows a seal had to read back (benchmarks/ledger.py)
        self._pending: tuple[Any, ...] | None = None
        self._outbox: list[str] = []  # checkpoint notes for the sink, written after COMMIT
        self._load()
        # rows this connection wrote up to the last seal: none yet (its migrations, written before this, are its own)
        self.changes = 0

    # -- state --------------------------------------------------------------------------------
    def _load(self) -> None:
        """seq, chain, marks, compact range and checkpoint position from the database."""
        last = self.conn.execute("SELECT seq, chain, marks FROM ledger ORDER BY seq DESC LIMIT 1").fetchone()
        cp = self.conn.execute("SELECT size, compact, at FROM ledger_checkpoints ORDER BY id DESC LIMIT 1").fetchone()
        self.seq = last[0] if last else 0
        self.chain = bytes(last[1]) if last else GENESIS
        self.marks: dict[str, int] = json.loads(last[2]) if last else {}
        if cp and cp[1]:
            nodes = [bytes.fromhex(h) for h in json.loads(cp[1])]
            self.compact = CompactRange(cp[0], nodes)
            self.checkpointed = cp[0]
        else:
            self.compact, self.checkpointed = CompactRange(), 0
        for (leaf,) in self.conn.execute("SELECT leaf FROM ledger WHERE seq > ? ORDER BY seq", (self.compact.size,)):
            self.compact.append(bytes(leaf))
        self.checkpoint_time = time.monotonic()

    def _refresh_tables(self) -> None:
        version = self.conn.execute("PRAGMA schema_version").fetchone()[0]
        if version != self._schema:
            self._schema = version
            self._tables = covered_tables(self.conn)
            self._sql = {t: range_sql(t, cols) for t, cols in self._tables.items()}
            self._probe = "SELECT " + ", ".join(f'(SELECT count(*) FROM "{t}" WHERE rowid > ?), '
                                                f'(SELECT max(rowid) FROM "{t}")' for t in self._tables)
            self._hashed, self._layouts = {}, {}
            for t, cols in self._tables.items():
                names = hashed_columns(t, cols)
                self._hashed[t] = (names, positions(cols, names))

    # -- the hook -----------------------------------------------------------------------------
    def seal(self) -> None:
        """Inside the transaction, before COMMIT: the ledger entry of the rows written since the last one."""
        head = self.conn.execute("SELECT max(seq) FROM ledger").fetchone()[0] or 0
        if head != self.seq:  # another connection sealed since: its state is the truth
            self._load()
        self._refresh_tables()
        ranges: list[list[Any]] = []
        parts: list[bytes] = []
        digests: dict[str, list[str]] = {}
        marks = dict(self.marks)
        # which tables have rows above their marks: one statement instead of one or two per table
        probe = self.conn.execute(self._probe, [marks.get(t, 0) for t in self._sql]).fetchone() if self._sql else ()
        for k, (table, sql) in enumerate(self._sql.items()):
            count, high = probe[2 * k], probe[2 * k + 1]
            if not count:
                continue
            mark = marks.get(table, 0)
            ncols = len(self._tables[table])
            names, where = self._hashed[table]
            got = None
            if table in self.capture:
                layout = self._layouts.get(table)
                if layout is None:
                    layout = self._layouts[table] = Layout(self.conn, table, ncols)
                got = self.capture.sealed(table, layout, mark, count, high, where, ncols)
            if got is None:
                rows = self.conn.execute(sql, (mark, 1 << 62)).fetchall()
                self.read_back += bool(rows)
                if not rows:
                    continue
                got = (rows[0][0], rows[-1][0], len(rows), *hash_range(table, rows, where, ncols))
            lo, hi, n, part, digests[table] = got
            ranges.append([table, lo, hi, n, ncols] + ([names] if names else []))
            parts.append(part)
            marks[table] = hi
        self.capture.clear()
        changes = self.conn.total_changes
        if not parts:
            return
        hashes = b"".join(parts)
        foreign = max(len(hashes) // 32 - (changes - self.changes), 0)
        tx_root = root_of(hashes)
        leaf = leaf_hash(tx_root)
        chain = hashlib.sha256(self.chain + leaf).digest()
        seq = self.seq + 1
        self.conn.execute("INSERT INTO ledger (seq, at, ranges, row_hashes, col_digests, tx_root, leaf, chain, marks, "
                          "foreign_rows) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                          (seq, self.clock(), json.dumps(ranges), hashes, json.dumps(digests), tx_root,
                           leaf, chain, json.dumps(marks), foreign))
        compact = self.compact.copy()
        compact.append(leaf)
        self._pending = (seq, chain, marks, compact)
        if seq - self.checkpointed >= self.every or time.monotonic() - self.checkpoint_time >= self.seconds:
            self._checkpoint("periodic", seq, chain, compact)

    def committed(self) -> None:
        """After COMMIT: the sealed state becomes current; checkpoints go to the sink."""
        if self._pending is not None:
            self.seq, self.chain, self.marks, self.compact = self._pending
            self._pending = None
        self.changes = self.conn.total_changes
        self._publish()

    def discard(self) -> None:
        """After ROLLBACK: nothing sealed happened."""
        if self._pending is not None and self._outbox:
            self.checkpointed = self.seq  # the rolled-back checkpoint never existed; the next is due soon
        self._pending = None
        self._outbox.clear()
        self.capture.clear()
        self.changes = self.conn.total_changes

    # -- checkpoints ----------------------------------------------------------------------------
    def _checkpoint(self, kind: str, size: int, chain: bytes, compact: CompactRange,
                    extra: dict[str, Any] | None = None) -> str:
        head = compact.head()
        note = ledger_note.sign(ledger_note.body(size, head, chain, kind, extra), self.key)
        self.conn.execute("INSERT INTO ledger_checkpoints (size, root, chain, kind, key_id, note, compact, at) "
                          "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                          (size, head.hex(), chain.hex(), kind, ledger_note.key_id_hex(self.key), note,
                           json.dumps([n.hex() for n in compact.nodes]), self.clock()))
        self.checkpointed, self.checkpoint_time = size, time.monotonic()
        self._outbox.append(note)
        return note

    def checkpoint(self, kind: str = "manual", extra: dict[str, Any] | None = None) -> str | None:
        """A checkpoint of the current tree in its own transaction (None when there is nothing sealed)."""
        if not self.seq:
            return None
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            note = self._checkpoint(kind, self.seq, self.chain, self.compact, extra)
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            self._outbox.clear()
            raise
        self._publish()
        return note

    def seal_now(self) -> None:
        """Seal rows written outside a transaction (autocommit) in a transaction of their own."""
        if self.conn.in_transaction or self.conn.total_changes == self.changes:
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            self.seal()
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            self.discard()
            raise
        self.committed()

    def close(self) -> None:
        """At shutdown: seal what is left, then a checkpoint when entries were sealed since the last one."""
        if self.conn.in_transaction:
            return
        self.seal_now()
        if self.seq > self.checkpointed:
            self.checkpoint("shutdown")

    def _publish(self) -> None:
        if not self._outbox:
            return
        notes, self._outbox = self._outbox, []
        if self.sink:
            path = Path(self.sink)
            path.mkdir(parents=True, exist_ok=True)
            with open(path / "checkpoints.log", "a", encoding="utf-8") as fh:  # append-only (chattr +a friendly)
                for note in notes:
                    fh.write(note + "\n")
                fh.flush()
                os.fsync(fh.fileno())
