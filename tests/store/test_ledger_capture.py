"""The ledger hashes rows as inserted (engine/store/ledger_capture.py): the same hashes as reading them back,
and a read back whenever the capture cannot be sure."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from engine.store.audit import Audit
from engine.store.ledger_rows import encode, hash_rows, parse_range, positions, range_sql
from engine.store.ledger_verify import verify

DECISION = ("INSERT INTO decisions (event_id, incident_id, service, severity, confidence, at, event_epoch) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)")
FIRING = "INSERT INTO firings (event_id, seq, rule, stage, selected, bindings, at) VALUES (?, ?, ?, ?, ?, ?, ?)"


def _read_back_hashes(db: Path) -> list[tuple[int, bytes]]:
    """Every ledger entry's row hashes recomputed from the rows sqlite holds, next to the stored ones."""
    conn = sqlite3.connect(db)
    cols = {t: [c[1] for c in conn.execute(f"PRAGMA table_info({t})")] for (t,) in
            conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    out = []
    for seq, ranges, stored in conn.execute("SELECT seq, ranges, row_hashes FROM ledger ORDER BY seq").fetchall():
        got = b""
        for table, lo, hi, _n, ncols, hashed in map(parse_range, json.loads(ranges)):
            rows = conn.execute(range_sql(table, cols[table][:ncols]), (lo - 1, hi)).fetchall()
            got += b"".join(hash_rows(table, encode(rows, positions(cols[table][:ncols], hashed))))
        out.append((seq, got == bytes(stored)))
    conn.close()
    return out  # type: ignore[return-value]


def test_captured_rows_hash_as_read_back(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    log = Audit(db)
    log.ledger.seal_now()  # the migrations' rows, written before the ledger existed: read back
    base = log.ledger.read_back
    for k in range(3):
        log.begin()
        # an int in a REAL column (stored 1.0), a bool in an INTEGER one (stored 1), NULLs, unicode
        log.defer(DECISION, [(f"e{k}-{i}", f"INC-{k}", "svc-ü", "MAJOR", 1, "2025-01-01T00:00:00Z", 1.5e9 + i)
                             for i in range(50)])
        log.defer(FIRING, [(f"e{k}-{i}", i, "severity:x", "severity", True, None, "t") for i in range(50)])
        log.insert("results", [{"action_id": k, "outcome": "ok", "detail": "d" * 10, "at": "t"}])
        log.commit()
    assert log.ledger.read_back == base  # every table came from the capture
    log.close()
    assert all(ok for _, ok in _read_back_hashes(db))
    assert verify(sqlite3.connect(db)).ok


@pytest.mark.parametrize("case", ["float-in-integer", "int-in-text", "or-ignore", "other-connection",
                                  "explicit-ids"])
def test_uncertain_captures_are_read_back(tmp_path: Path, case: str) -> None:
    db = tmp_path / "b.db"
    log = Audit(db)
    log.ledger.seal_now()
    base = log.ledger.read_back
    log.begin()
    if case == "float-in-integer":  # sqlite would store 2.0 as 2 here
        log.defer(FIRING, [("e", 2.0, "r", "severity", 1, "{}", "t")])
    elif case == "int-in-text":  # stored as the text '7'
        log.defer(FIRING, [("e", 1, 7, "severity", 1, "{}", "t")])
    elif case == "or-ignore":  # not a plain INSERT: not captured, and the firings row is read back
        log.defer(FIRING, [("e", 1, "r", "severity", 1, "{}", "t")])
        log.conn.execute("INSERT OR IGNORE INTO firings (event_id, seq, rule) VALUES ('x', 2, 'r')")
    elif case == "other-connection":  # a row the capture did not see, committed before this transaction
        log.conn.execute("ROLLBACK")
        other = sqlite3.connect(db)
        other.execute("INSERT INTO firings (event_id, seq, rule) VALUES ('y', 3, 'r')")
        other.commit()
        other.close()
        log.begin()
        log.defer(FIRING, [("e", 1, "r", "severity", 1, "{}", "t")])
    else:  # explicit, unordered ids: captured, sorted by rowid
        log.insert("results", [{"id": 9, "action_id": 1, "outcome": "ok"}, {"id": 4, "action_id": 2, "outcome": "ok"}])
    log.commit()
    read_back = log.ledger.read_back - base
    log.close()
    assert read_back == (0 if case == "explicit-ids" else 1)
    assert all(ok for _, ok in _read_back_hashes(db))
    rep = verify(sqlite3.connect(db))
    assert rep.ok == (case != "other-connection"), rep.problems  # the foreign row is reported, not hidden
