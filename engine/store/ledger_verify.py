"""``rules audit verify`` and ``prove``: recompute the ledger (engine/store/ledger.py) from the rows.

:func:`verify` walks every ledger entry in order, recomputes each row's hash with the SQL that
sealed it, the transaction's Merkle root, its leaf and the chain; then every checkpoint (in the
database and any exported ones) against the Merkle root recomputed at its size, and each
signature against the verifier keys (with their ``from=`` epochs). Problems are listed in log
order; the first names the transaction (``seq``), table, rowid and column.

:func:`prove` writes an inclusion proof of one decision: the row as hashed, its path to the
transaction's root, the transaction's path to the tree root and the signed checkpoint;
:func:`check_proof` verifies it with the public key alone.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any

from engine.store import ledger_note
from engine.store.ledger import GENESIS, covered_tables
from engine.store.ledger_merkle import (
    CompactRange,
    inclusion_path,
    leaf_hash,
    root,
    root_from_path,
    verify_inclusion,
)
from engine.store.ledger_rows import (
    HASHED,
    MARK,
    dumps,
    encode,
    hash_range,
    parse_range,
    positions,
    range_sql,
)
from engine.store.readonly import has_table

MAX_PROBLEMS = 20


@dataclass
class Report:
    entries: int = 0
    rows: int = 0
    checkpoints: int = 0
    seconds: float = 0.0
    problems: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, **problem: Any) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)


def _range(conn: sqlite3.Connection, table: str, cols: list[str], lo: int, hi: int) -> list[tuple[Any, ...]]:
    return conn.execute(range_sql(table, cols), (lo - 1, hi)).fetchall()


def _with_pruned(conn: sqlite3.Connection, table: str, lo: int, hi: int, rows: list[tuple[Any, ...]],
                 got: list[bytes], stored: list[bytes]) -> list[bytes]:
    """The range's hashes with each row ``rules history prune`` removed (listed in ``ledger_pruned``) taken
    from the ledger: a contiguous range maps rowid → position; any other gap stays a deletion."""
    if hi - lo + 1 != len(stored):
        return got
    gone = {r[0] for r in conn.execute("SELECT row FROM ledger_pruned WHERE tbl = ? AND row BETWEEN ? AND ?",
                                       (table, lo, hi))}
    have = {r[0]: h for r, h in zip(rows, got, strict=True)}
    out = []
    for rowid in range(lo, hi + 1):
        if rowid in have:
            out.append(have[rowid])
        elif rowid in gone:
            out.append(stored[rowid - lo])
        else:
            return got  # deleted outside the prune: _locate names it
    return out


def _locate(conn: sqlite3.Connection, rep: Report, seq: int, table: str, cols: list[str], lo: int, hi: int,
            stored: list[bytes], got: list[bytes], stored_cols: list[str], got_cols: list[str]) -> None:
    rowids = [r[0] for r in conn.execute(f'SELECT rowid FROM "{table}" WHERE rowid BETWEEN ? AND ? ORDER BY rowid',
                                         (lo, hi))]
    if len(got) < len(stored):
        present = set(rowids)
        if has_table(conn, "ledger_pruned"):  # removed by `rules history prune`: not a deletion
            present |= {r[0] for r in conn.execute("SELECT row FROM ledger_pruned WHERE tbl = ? AND row BETWEEN ? "
                                                   "AND ?", (table, lo, hi))}
        missing = [r for r in range(lo, hi + 1) if r not in present] if hi - lo + 1 == len(stored) else []
        rep.add(seq=seq, table=table, rowid=missing[0] if missing else None, column=None,
                problem=f"{len(missing) or len(stored) - len(got)} row(s) deleted")
        return
    if len(got) > len(stored):
        rep.add(seq=seq, table=table, rowid=None, column=None, problem=f"{len(got) - len(stored)} row(s) inserted")
        return
    i = next(k for k in range(len(got)) if got[k] != stored[k])
    columns = [c for c, a, b in zip(cols, stored_cols, got_cols, strict=False) if a != b]
    rep.add(seq=seq, table=table, rowid=rowids[i], column=", ".join(columns) or None,
            problem="row changed" + (f" (column {', '.join(columns)})" if columns else ""),
            expected=stored[i].hex(), actual=got[i].hex())


def verify(conn: sqlite3.Connection, keys: list[ledger_note.VerifierKey] | None = None,
           external: list[str] | None = None) -> Report:
    rep = Report()
    started = time.perf_counter()
    tables = covered_tables(conn)
    if not has_table(conn, "ledger"):
        written = [t for t in tables if conn.execute(f'SELECT 1 FROM "{t}" LIMIT 1').fetchone()]
        if written:
            rep.add(seq=None, table=written[0], rowid=None, column=None,
                    problem="no ledger in this log (written with ESCALATION_LEDGER=off?): nothing can be verified")
        return rep
    notes = [("database", r[0], r[1]) for r in
             conn.execute("SELECT size, note FROM ledger_checkpoints ORDER BY id")]
    notes += [("exported", None, n) for n in external or []]
    wanted: dict[int, bytes] = {}
    chains: dict[int, bytes] = {}
    parsed = []
    for where, _, note in notes:
        try:
            cp = ledger_note.parse(note)
        except ValueError as exc:
            rep.add(seq=None, table=None, rowid=None, column=None, problem=f"{where} checkpoint unreadable: {exc}")
            continue
        parsed.append((where, cp))
        wanted[cp.size] = b""
    pruned = has_table(conn, "ledger_pruned")
    compact = CompactRange()
    chain = GENESIS
    covered: dict[str, int] = {}
    prev_seq = 0
    for seq, ranges, hashes, digests, tx_root, leaf, stored_chain, foreign in conn.execute(
            "SELECT seq, ranges, row_hashes, col_digests, tx_root, leaf, chain, foreign_rows FROM ledger "
            "ORDER BY seq"):
        rep.entries += 1
        if seq != prev_seq + 1:
            rep.add(seq=seq, table="ledger", rowid=None, column=None,
                    problem=f"ledger entries {prev_seq + 1}..{seq - 1} missing (no prune checkpoint covers them)")
        prev_seq = seq
        stored = [bytes(hashes[i:i + 32]) for i in range(0, len(hashes), 32)]
        digests = json.loads(digests)
        recomputed: list[bytes] = []
        offset = 0
        for table, lo, hi, count, ncols, hashed in map(parse_range, json.loads(ranges)):
            covered[table] = covered.get(table, 0) + count
            part = stored[offset:offset + count]
            offset += count
            if table not in tables:
                rep.add(seq=seq, table=table, rowid=None, column=None, problem="table dropped")
                recomputed += [b""] * count
                continue
            cols = tables[table][:ncols]
            rows = _range(conn, table, cols, lo, hi)
            blob, got_cols = hash_range(table, rows, positions(cols, hashed), len(cols))
            got = [blob[i:i + 32] for i in range(0, len(blob), 32)]
            rep.rows += len(got)
            if len(got) < len(part) and pruned:
                got = _with_pruned(conn, table, lo, hi, rows, got, part)
            if got != part:
                _locate(conn, rep, seq, table, cols, lo, hi, part, got, digests.get(table, []), got_cols)
            recomputed += got
        bad_root = (recomputed != stored and root(recomputed) != bytes(tx_root)) or root(stored) != bytes(tx_root)
        if bad_root and (not rep.problems or rep.problems[-1].get("seq") != seq):
            rep.add(seq=seq, table="ledger", rowid=seq, column="row_hashes/tx_root",
                        problem="transaction root does not match its rows")
        if leaf_hash(bytes(tx_root)) != bytes(leaf):
            rep.add(seq=seq, table="ledger", rowid=seq, column="leaf", problem="leaf does not match tx_root")
        chain = hashlib.sha256(chain + bytes(leaf)).digest()
        if chain != bytes(stored_chain):
            rep.add(seq=seq, table="ledger", rowid=seq, column="chain", problem="hash chain broken")
            chain = bytes(stored_chain)
        if foreign:
            rep.add(seq=seq, table=None, rowid=None, column=None,
                    problem=f"{foreign} row(s) sealed here were not written by the engine (inserted between "
                            "transactions)")
        compact.append(leaf_hash(bytes(tx_root)))
        if compact.size in wanted:
            wanted[compact.size], chains[compact.size] = compact.head(), chain
    for table in tables:
        n = conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
        if n > covered.get(table, 0):
            first = conn.execute(f'SELECT min(rowid) FROM "{table}"').fetchone()[0]
            rep.add(seq=None, table=table, rowid=first if not covered.get(table) else None, column=None,
                    problem=f"{n - covered.get(table, 0)} row(s) not in any ledger entry (inserted or never sealed)")
    _redacted_outside(conn, rep, tables)
    _checkpoints(rep, parsed, wanted, chains, compact.size, keys)
    rep.seconds = time.perf_counter() - started
    return rep


def _redacted_outside(conn: sqlite3.Connection, rep: Report, tables: dict[str, list[str]]) -> None:
    """A redaction marker ``rules history redact`` did not write (each it writes is listed, sealed, in
    ``ledger_redacted``): its hash may match (the value was destroyed, not changed), but not by this path."""
    listed = has_table(conn, "ledger_redacted")
    for table, names in HASHED.items():
        for col in (c for c in names if c in tables.get(table, [])):
            sql = f'SELECT rowid FROM "{table}" WHERE substr("{col}", 1, {len(MARK)}) = ?'
            if listed:
                sql += " AND rowid NOT IN (SELECT row FROM ledger_redacted WHERE tbl = ? AND col = ?)"
            found = conn.execute(sql + " ORDER BY rowid LIMIT 1",
                                 (MARK, table, col) if listed else (MARK,)).fetchone()
            if found:
                rep.add(seq=None, table=table, rowid=found[0], column=col,
                        problem="redacted outside `rules history redact` (not listed in ledger_redacted)")


def _checkpoints(rep: Report, parsed: list[tuple[str, ledger_note.Checkpoint]], wanted: dict[int, bytes],
                 chains: dict[int, bytes], size: int, keys: list[ledger_note.VerifierKey] | None) -> None:
    for where, cp in parsed:
        rep.checkpoints += 1
        if keys is not None:
            why = ledger_note.check(cp, keys, predating=True)
            if why is not None:
                rep.add(seq=cp.size, table="ledger_checkpoints", rowid=None, column=None,
                        problem=f"{where} checkpoint at size {cp.size}: {why}")
        if cp.size > size:
            rep.add(seq=cp.size, table="ledger", rowid=None, column=None,
                    problem=f"{where} checkpoint at size {cp.size} but the ledger has {size} entries: truncated")
            continue
        if wanted.get(cp.size) != cp.root or cp.ext.get("chain") != chains.get(cp.size, b"").hex():
            rep.add(seq=cp.size, table="ledger", rowid=None, column=None,
                    problem=f"{where} checkpoint at size {cp.size}: the ledger recomputed here has another root "
                            "(rewritten history)")


# -- proofs ---------------------------------------------------------------------------------------
PROVABLE = ("decisions", "events")


def prove(conn: sqlite3.Connection, event_id: str, table: str = "decisions") -> str:
    """The inclusion proof of the ``decisions`` (or ``events``) row of ``event_id`` against the newest
    checkpoint. The row is as hashed: a payload column appears as its hash (redacted or not)."""
    if table not in PROVABLE:
        raise LookupError(f"no proofs of {table!r} rows (one of: {', '.join(PROVABLE)})")
    found = conn.execute(f"SELECT rowid FROM {table} WHERE event_id = ?", (event_id,)).fetchone()
    if not found:
        raise LookupError(f"no {table[:-1]} for event {event_id!r}")
    rowid = found[0]
    entry = conn.execute(
        "SELECT seq, ranges, row_hashes FROM ledger WHERE EXISTS (SELECT 1 FROM json_each(ranges) r WHERE "
        "json_extract(r.value, '$[0]') = :t AND json_extract(r.value, '$[1]') <= :r "
        "AND json_extract(r.value, '$[2]') >= :r)", {"r": rowid, "t": table}).fetchone()
    if not entry:
        raise LookupError(f"the {table[:-1]} of {event_id!r} is in no ledger entry (written with the ledger off?)")
    cp = conn.execute("SELECT size, note FROM ledger_checkpoints WHERE size >= ? ORDER BY id DESC LIMIT 1",
                      (entry[0],)).fetchone()
    if not cp:
        raise LookupError(f"no checkpoint covers ledger entry {entry[0]} yet (one is written every N entries, "
                          "at shutdown, or by `rules audit checkpoint`)")
    seq, ranges, blob = entry
    hashes = [bytes(blob[i:i + 32]) for i in range(0, len(blob), 32)]
    index = 0
    cols = covered_tables(conn)[table]
    text = ""
    for name, lo, hi, count, ncols, hashed in map(parse_range, json.loads(ranges)):
        if name == table:
            ids = [r[0] for r in conn.execute(f"SELECT rowid FROM {table} WHERE rowid BETWEEN ? AND ? "
                                              "ORDER BY rowid", (lo, hi))]
            index += ids.index(rowid)
            row = encode(_range(conn, table, cols[:ncols], rowid, rowid), positions(cols[:ncols], hashed))[0]
            text = dumps(row).decode()
            break
        index += count
    leaves = [leaf_hash(bytes(r[0])) for r in conn.execute("SELECT tx_root FROM ledger WHERE seq <= ? ORDER BY seq",
                                                             (cp[0],))]
    b64 = base64.b64encode
    lines = ["escalation-handlers audit proof v1", f"table {table}", f"row {text}",
             f"row_index {index} {len(hashes)}",
             "row_path " + " ".join(b64(h).decode() for h in inclusion_path(index, hashes)),
             f"index {seq - 1}", "path " + " ".join(b64(h).decode() for h in inclusion_path(seq - 1, leaves)), ""]
    return "\n".join(lines) + "\n" + cp[1]


def check_proof(text: str, keys: list[ledger_note.VerifierKey]) -> tuple[bool, str]:
    """(ok, one line): the proof's row is in the tree its checkpoint signs, and a key signed it."""
    head, sep, note = text.partition("\n\n")
    if not sep:
        return False, "not a proof: no checkpoint after a blank line"
    fields = {k: v for k, _, v in (line.partition(" ") for line in head.splitlines()[1:])}
    try:
        table = fields["table"]
        row = fields["row"].encode()
        index, count = (int(v) for v in fields["row_index"].split())
        row_path = [base64.b64decode(h) for h in fields["row_path"].split()]
        leaf_index = int(fields["index"])
        path = [base64.b64decode(h) for h in fields["path"].split()]
        cp = ledger_note.parse(note)
    except (KeyError, ValueError) as exc:
        return False, f"malformed proof: {exc}"
    why = ledger_note.check(cp, keys)
    if why is not None:
        return False, f"checkpoint not trusted: {why}"
    row_hash = hashlib.sha256(b"\x00" + table.encode() + b"\x00" + row).digest()
    tx_root = root_from_path(index, count, row_hash, row_path)
    if tx_root is None:
        return False, "row path malformed"
    if not verify_inclusion(leaf_index, cp.size, leaf_hash(tx_root), path, cp.root):
        return False, "the row is not in the tree the checkpoint signs"
    return True, f"{table} row {json.loads(row)[1]!r} is in ledger entry {leaf_index + 1} of {cp.size} ({cp.origin})"
