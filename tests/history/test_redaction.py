"""``rules history redact``: payloads become their hash, the ledger stays valid, and tampering is still caught."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from history_gen import BASE, Incident, generate
from history_kit import rules

from engine.store import ledger_rows
from engine.store.ledger_note import new_key

CUT = "2025-01-03T00:00:00Z"
CUT_EPOCH = datetime(2025, 1, 3, tzinfo=UTC).timestamp()
PAYLOADS = {"events": "payload", "actions": "intent", "results": "detail"}  # what the generator writes


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    work = tmp_path_factory.mktemp("redact")
    seed, vkey = new_key("test-key")
    (work / "keys").write_text(vkey + "\n")
    env = {"ESCALATION_LEDGER_KEY": seed, "ESCALATION_LEDGER_KEY_NAME": "test-key"}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        incidents = generate(work / "audit.db", 600, events=True, chunk=100)
    return {"db": work / "audit.db", "keys": work / "keys", "env": env, "incidents": incidents}


def _copy(log: dict[str, object], tmp_path: Path) -> Path:
    db = tmp_path / "copy.db"
    shutil.copy(log["db"], db)  # type: ignore[arg-type]
    return db


def _cells(db: Path) -> dict[tuple[str, int], object]:
    """(table, rowid) → its payload cell, with the event id of the row's incident."""
    conn = sqlite3.connect(db)
    out: dict[tuple[str, int], object] = {}
    for table, col in PAYLOADS.items():
        inc = "a.incident_id" if table == "results" else "t.incident_id" if table == "actions" else "t.event_id"
        join = "JOIN actions a ON a.id = t.action_id" if table == "results" else ""
        for rowid, value, owner in conn.execute(f"SELECT t.rowid, t.{col}, {inc} FROM {table} t {join}"):
            out[(table, rowid)] = (value, owner)
    conn.close()
    return out


def _verify(db: Path, log: dict[str, object]) -> tuple[int, dict]:  # type: ignore[type-arg]
    res = rules("audit", "verify", "--db", str(db), "--keys", str(log["keys"]), "--format", "json")
    return res.returncode, json.loads(res.stdout)


def _redact(db: Path, log: dict[str, object], *args: str) -> str:
    res = rules("history", "redact", *args, "--db", str(db), env=log["env"])  # type: ignore[arg-type]
    assert res.returncode == 0, res.stderr
    return res.stdout


def _redacted(log: dict[str, object], tmp_path: Path) -> Path:
    db = _copy(log, tmp_path)
    _redact(db, log, "--older-than", CUT)
    return db


def _incident_of(owner: str) -> str:
    return owner.split("-e")[0]  # INC-0000012-e1 → INC-0000012


def test_redact_keeps_the_ledger_and_only_touches_old_resolved_incidents(log: dict[str, object],
                                                                          tmp_path: Path) -> None:
    db = _copy(log, tmp_path)
    before = _cells(db)
    conn = sqlite3.connect(db)
    ledger_before = conn.execute("SELECT seq, row_hashes, tx_root, leaf, chain FROM ledger ORDER BY seq").fetchall()
    conn.close()
    incidents: list[Incident] = log["incidents"]  # type: ignore[assignment]
    gone = {i.incident_id for i in incidents if i.opened < CUT_EPOCH and i.resolve}
    assert 20 < len(gone) < len(incidents) // 2
    out = _redact(db, log, "--older-than", CUT)
    after = _cells(db)
    want = {k for k, (value, owner) in before.items() if _incident_of(str(owner)) in gone and value is not None}
    changed = {k for k in before if after[k] != before[k]}
    assert changed == want
    assert out.startswith(f"redacted {len(want)} cell(s) of ")
    for key in want:  # the marker is the hash the value entered its row hash with, computed here independently
        value = before[key][0]
        digest = hashlib.sha256(json.dumps(value, ensure_ascii=False).encode()).hexdigest()
        assert after[key][0] == f"redacted:sha256:{digest}"
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT seq, row_hashes, tx_root, leaf, chain FROM ledger WHERE seq <= ? ORDER BY seq",
                        (len(ledger_before),)).fetchall() == ledger_before  # no entry rewritten
    assert conn.execute("SELECT count(*) FROM ledger_redacted").fetchone()[0] == len(want)
    assert conn.execute("SELECT cells FROM redaction_runs").fetchall() == [(len(want),)]
    assert conn.execute("SELECT kind FROM ledger_checkpoints ORDER BY id DESC LIMIT 1").fetchone()[0] == "redact"
    conn.close()
    code, doc = _verify(db, log)
    assert code == 0 and doc["ok"], doc["problems"]
    assert "redacted 0 cell(s)" in _redact(db, log, "--older-than", CUT)  # already redacted: nothing to do


def _one_redacted(db: Path) -> int:
    conn = sqlite3.connect(db)
    rowid = conn.execute("SELECT row FROM ledger_redacted WHERE tbl = 'events' ORDER BY row LIMIT 1 OFFSET 3"
                         ).fetchone()[0]
    conn.close()
    return int(rowid)


def _tamper(db: Path, *sql: str) -> None:
    conn = sqlite3.connect(db)
    for s in sql:
        conn.execute(s)
    conn.commit()
    conn.close()


def test_edit_of_a_redacted_rows_other_column_is_named(log: dict[str, object], tmp_path: Path) -> None:
    db = _redacted(log, tmp_path)
    rowid = _one_redacted(db)
    _tamper(db, "DROP TRIGGER events_no_update", f"UPDATE events SET service = 'svc-99' WHERE rowid = {rowid}")
    code, doc = _verify(db, log)
    first = doc["problems"][0]
    assert code == 1 and (first["table"], first["rowid"], first["column"]) == ("events", rowid, "service")


def test_forged_marker_with_another_hash_is_named(log: dict[str, object], tmp_path: Path) -> None:
    db = _redacted(log, tmp_path)
    rowid = _one_redacted(db)
    _tamper(db, "DROP TRIGGER events_no_update",
            f"UPDATE events SET payload = 'redacted:sha256:{'0' * 64}' WHERE rowid = {rowid}")
    code, doc = _verify(db, log)
    first = doc["problems"][0]
    assert code == 1 and (first["table"], first["rowid"], first["column"]) == ("events", rowid, "payload")


def test_marker_written_outside_redact_is_reported(log: dict[str, object], tmp_path: Path) -> None:
    db = _redacted(log, tmp_path)
    conn = sqlite3.connect(db)
    rowid, payload = conn.execute("SELECT rowid, payload FROM events WHERE payload NOT LIKE 'redacted:%' "
                                  "ORDER BY rowid DESC LIMIT 1").fetchone()
    conn.close()
    right = hashlib.sha256(json.dumps(payload).encode()).hexdigest()  # the right hash: the row hash still matches
    _tamper(db, "DROP TRIGGER events_no_update",
            f"UPDATE events SET payload = 'redacted:sha256:{right}' WHERE rowid = {rowid}")
    code, doc = _verify(db, log)
    assert code == 1 and [(p["table"], p["rowid"], p["column"]) for p in doc["problems"]] == [
        ("events", rowid, "payload")]
    assert "outside" in doc["problems"][0]["problem"]


def test_deleting_the_redaction_listing_is_caught(log: dict[str, object], tmp_path: Path) -> None:
    db = _redacted(log, tmp_path)
    _tamper(db, "DROP TRIGGER ledger_redacted_no_delete", "DELETE FROM ledger_redacted WHERE id = 2")
    code, doc = _verify(db, log)
    assert code == 1 and doc["problems"][0]["table"] == "ledger_redacted"


def test_prove_of_a_redacted_event_checks_offline(log: dict[str, object], tmp_path: Path) -> None:
    db = _copy(log, tmp_path)
    assert rules("audit", "checkpoint", "--db", str(db), env=log["env"]).returncode == 0  # type: ignore[arg-type]
    conn = sqlite3.connect(db)
    eid = conn.execute("SELECT d.event_id FROM decisions d JOIN incident_updates u ON u.incident_id = d.incident_id "
                       "AND u.type = 'resolve' WHERE d.event_epoch < ? ORDER BY d.rowid LIMIT 1",
                       (CUT_EPOCH,)).fetchone()[0]
    conn.close()
    proofs = []
    for step in ("before", "after"):
        if step == "after":
            _redact(db, log, "--event", eid)
        proof = tmp_path / f"{step}.txt"
        res = rules("audit", "prove", "--event", eid, "--table", "events", "-o", str(proof), "--db", str(db))
        assert res.returncode == 0, res.stderr
        assert proof.stat().st_size < 4096
        res = rules("audit", "check-proof", str(proof), "--keys", str(log["keys"]))
        assert res.returncode == 0 and res.stdout.startswith(f"ok: events row '{eid}'"), res.stdout
        proofs.append(proof.read_text().split("\n")[2])  # the row as hashed
    assert proofs[0] == proofs[1]  # the same row hash before and after: the payload entered it by its hash
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT payload FROM events WHERE event_id = ?", (eid,)).fetchone()[0].startswith("redacted:")
    conn.close()


def test_open_incidents_and_unknown_events_are_refused(log: dict[str, object], tmp_path: Path) -> None:
    db = _copy(log, tmp_path)
    incidents: list[Incident] = log["incidents"]  # type: ignore[assignment]
    open_one = next(i for i in incidents if not i.resolve)
    before = _cells(db)
    for eid, why in ((open_one.incident_id, "not resolved"), ("NO-SUCH-EVENT", "no decision")):
        res = rules("history", "redact", "--event", eid, "--db", str(db))
        assert res.returncode == 1 and why in res.stderr and "Traceback" not in res.stderr, res.stderr
    assert _cells(db) == before
    res = rules("history", "redact", "--db", str(db))
    assert res.returncode == 2 and "--older-than" in res.stderr


def test_rows_sealed_before_per_column_hashes_are_left_and_still_verify(log: dict[str, object], tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "v1.db"
    monkeypatch.setattr(ledger_rows, "HASHED", {})  # the seal of a log written before format 2
    for k, v in log["env"].items():  # type: ignore[attr-defined]
        monkeypatch.setenv(k, v)
    incidents = generate(db, 200, events=True, chunk=50)
    conn = sqlite3.connect(db)
    assert all(len(r) == 5 for (rs,) in conn.execute("SELECT ranges FROM ledger") for r in json.loads(rs))
    conn.close()
    before = _cells(db)
    out = _redact(db, log, "--older-than", "2025-01-02T00:00:00Z")
    assert out.startswith("redacted 0 cell(s)") and "sealed before per-column hashes" in out
    assert _cells(db) == before and any(i.resolve and i.opened < BASE + 86400 for i in incidents)
    code, doc = _verify(db, log)
    assert code == 0, doc["problems"]


def test_timeline_and_why_of_a_redacted_incident(log: dict[str, object], tmp_path: Path) -> None:
    db = _redacted(log, tmp_path)
    conn = sqlite3.connect(db)
    inc = conn.execute("SELECT a.incident_id FROM actions a WHERE a.intent LIKE 'redacted:%' AND a.kind = 'page' "
                       "ORDER BY a.id LIMIT 1").fetchone()[0]
    conn.close()
    res = rules("timeline", inc, "--format", "json", "--db", str(db))
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr
    pages = [e for e in json.loads(res.stdout)["entries"] if e["kind"] in ("page", "escalation")]
    assert pages  # the pages are still there; their targets went with the intent
    res = rules("audit", "why", inc, "--format", "json", "--db", str(db))
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr
