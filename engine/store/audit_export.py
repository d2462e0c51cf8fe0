"""``rules audit export``: sealed segments of the log for an immutable store (a directory or S3 with object lock).

A segment covers the ledger entries after the last one exported up to the newest checkpoint:
``segment-<first>-<last>.jsonl`` — a header line (origin, first, last, the compact range before
``first``), then one line per entry with its rows as hashed (``[rowid, columns…]`` per table) and its
hashes — and ``segment-<first>-<last>.note``, the signed checkpoint at ``last``. :func:`check_segment`
verifies a segment offline: every row hash, transaction root and chain link, and the Merkle root at
``last`` against the note (whose signature ``ledger_note.check`` verifies with the public key).

S3: ``s3://bucket/prefix`` puts both objects with ``ObjectLockMode=COMPLIANCE`` and a retain-until
date ``retain_days`` ahead (the bucket must have object lock enabled); nothing is overwritten.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from engine.store.ledger import GENESIS, covered_tables
from engine.store.ledger_merkle import CompactRange, leaf_hash, root
from engine.store.ledger_rows import encode, hash_rows, parse_range, positions, range_sql

_NAME = re.compile(r"segment-(\d+)-(\d+)\.jsonl$")


def build(conn: sqlite3.Connection, after: int) -> tuple[str, str, int, int] | None:
    """(segment JSONL, note, first, last) for entries after ``after`` up to the newest checkpoint; None if none."""
    cp = conn.execute("SELECT size, note FROM ledger_checkpoints ORDER BY size DESC, id DESC LIMIT 1").fetchone()
    if not cp or cp[0] <= after:
        return None
    last, note = cp
    tables = covered_tables(conn)
    compact = CompactRange()
    chain = GENESIS
    lines: list[str] = []
    for seq, ranges, hashes, tx_root, leaf, stored_chain in conn.execute(
            "SELECT seq, ranges, row_hashes, tx_root, leaf, chain FROM ledger WHERE seq <= ? ORDER BY seq", (last,)):
        if seq == after + 1:
            lines.append(json.dumps({"segment": 1, "first": after + 1, "last": last, "chain_before": chain.hex(),
                                     "compact_before": [n.hex() for n in compact.nodes], "size_before": compact.size}))
        if seq > after:
            rows: dict[str, list[Any]] = {}
            cols: dict[str, list[str]] = {}  # a range's columns by name: the hashed ones are named in it
            for table, lo, hi, _count, ncols, _hashed in map(parse_range, json.loads(ranges)):
                if table in tables:
                    cols[table] = tables[table][:ncols]
                    rows[table] = conn.execute(range_sql(table, cols[table]), (lo - 1, hi)).fetchall()
            lines.append(json.dumps({"seq": seq, "ranges": json.loads(ranges), "rows": rows, "columns": cols,
                                     "row_hashes": bytes(hashes).hex(), "tx_root": bytes(tx_root).hex(),
                                     "chain": bytes(stored_chain).hex()}, ensure_ascii=False))
        compact.append(bytes(leaf))
        chain = bytes(stored_chain)
    return "\n".join(lines) + "\n", note, after + 1, last


def check_segment(text: str, note_root: bytes, note_size: int) -> str | None:
    """None when the segment's rows, hashes and chain are consistent and lead to ``note_root`` at ``note_size``."""
    lines = [json.loads(line) for line in text.splitlines() if line]
    head, entries = lines[0], lines[1:]
    compact = CompactRange(head["size_before"], [bytes.fromhex(h) for h in head["compact_before"]])
    chain = bytes.fromhex(head["chain_before"])
    for e in entries:
        stored = bytes.fromhex(e["row_hashes"])
        got = b""
        for t, _lo, _hi, _n, _ncols, hashed in map(parse_range, e["ranges"]):
            cols = e.get("columns", {}).get(t, [])
            rows = encode([tuple(r) for r in e["rows"].get(t, [])], positions(cols, hashed))
            got += b"".join(hash_rows(t, rows))
        if got != stored:
            return f"entry {e['seq']}: rows do not match their hashes"
        hashes = [stored[i:i + 32] for i in range(0, len(stored), 32)]
        if root(hashes).hex() != e["tx_root"]:
            return f"entry {e['seq']}: transaction root"
        leaf = leaf_hash(bytes.fromhex(e["tx_root"]))
        chain = hashlib.sha256(chain + leaf).digest()
        if chain.hex() != e["chain"]:
            return f"entry {e['seq']}: chain"
        compact.append(leaf)
    if compact.size != note_size or compact.head() != note_root:
        return "the segment does not lead to the checkpoint's root"
    return None


def export(conn: sqlite3.Connection, dest: str, retain_days: int = 365, s3: Any = None) -> list[str]:
    """Write the next segment to ``dest`` (a directory or ``s3://bucket/prefix``); the names written."""
    if dest.startswith("s3://"):
        bucket, _, prefix = dest[5:].partition("/")
        client = s3 or _s3()
        listed = client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
        after = max((int(m.group(2)) for o in listed if (m := _NAME.search(o["Key"]))), default=0)
        seg = build(conn, after)
        if seg is None:
            return []
        until = datetime.now(UTC) + timedelta(days=retain_days)
        names = []
        for suffix, body in ((".jsonl", seg[0]), (".note", seg[1])):
            key = f"{prefix.rstrip('/') + '/' if prefix else ''}segment-{seg[2]}-{seg[3]}{suffix}"
            data = body.encode()
            client.put_object(Bucket=bucket, Key=key, Body=data, ObjectLockMode="COMPLIANCE",
                              ObjectLockRetainUntilDate=until,
                              ContentMD5=base64.b64encode(hashlib.md5(data).digest()).decode())  # noqa: S324
            names.append(f"s3://{bucket}/{key}")
        return names
    out = Path(dest)
    out.mkdir(parents=True, exist_ok=True)
    after = max((int(m.group(2)) for p in out.iterdir() if (m := _NAME.search(p.name))), default=0)
    seg = build(conn, after)
    if seg is None:
        return []
    names = []
    for suffix, body in ((".jsonl", seg[0]), (".note", seg[1])):
        path = out / f"segment-{seg[2]}-{seg[3]}{suffix}"
        with open(path, "x", encoding="utf-8") as fh:  # never overwrite
            fh.write(body)
        names.append(str(path))
    return names


def _s3() -> Any:
    import boto3

    return boto3.client("s3")
