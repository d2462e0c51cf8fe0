"""The tamper-evident ledger: a clean log verifies; each tampering of the issue's matrix fails at the right place."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from history_kit import ROOT, rules

from engine.store import ledger_merkle as m
from engine.store.ledger import Ledger
from engine.store.ledger_note import SigningKey, new_key, parse_vkeys, sign, split_notes
from engine.store.ledger_verify import verify


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path | str]:
    """``rules run --once`` over the samples with a signing key and a sink; then ``rules confirm`` (another
    process writing the same log)."""
    work = tmp_path_factory.mktemp("ledger")
    seed, vkey = new_key("test-key")
    (work / "keys").write_text(vkey + "\n")
    env = {"ESCALATION_LEDGER_KEY": seed, "ESCALATION_LEDGER_KEY_NAME": "test-key",
           "ESCALATION_LEDGER_SINK": str(work / "sink")}
    db = work / "escalation.db"
    res = rules("run", "--once", "--enqueue", str(ROOT / "sample-events"), "--rules", str(ROOT / "rules"),
                "--db", str(db), "--spool", str(work / "spool"), cwd=work, env=env)
    assert res.returncode == 0, res.stderr
    res = rules("confirm", "INC-2025-001", "--severity", "CRITICAL", "--by", "auditor", "--db", str(db), env=env)
    assert res.returncode == 0, res.stderr
    return {"dir": work, "db": db, "seed": seed, "keys": work / "keys", "sink": work / "sink"}


def _copy(signed: dict[str, Path | str], tmp_path: Path) -> Path:
    db = tmp_path / "copy.db"
    shutil.copy(signed["db"], db)
    return db


def _verify(db: Path, signed: dict[str, Path | str], *extra: str) -> tuple[int, str]:
    res = rules("audit", "verify", "--db", str(db), "--keys", str(signed["keys"]), "--external", str(signed["sink"]),
                "--format", "json", *extra)
    return res.returncode, res.stdout


def _problems(db: Path, signed: dict[str, Path | str]) -> list[dict]:  # type: ignore[type-arg]
    code, out = _verify(db, signed)
    assert code == 1, out
    return json.loads(out)["problems"]


def _tamper(db: Path, *sql: str) -> None:
    conn = sqlite3.connect(db)
    for s in sql:
        conn.execute(s)
    conn.commit()
    conn.close()


def test_clean_log_verifies_with_keys_and_exported_checkpoints(signed: dict[str, Path | str]) -> None:
    code, out = _verify(signed["db"], signed)  # type: ignore[arg-type]
    doc = json.loads(out)
    assert code == 0 and doc["ok"], doc["problems"]
    assert doc["rows"] > 300 and doc["checkpoints"] >= 2
    conn = sqlite3.connect(signed["db"])
    assert conn.execute("SELECT sum(foreign_rows) FROM ledger").fetchone()[0] == 0  # confirm's row was sealed too
    kinds = [r[0] for r in conn.execute("SELECT kind FROM ledger_checkpoints")]
    assert kinds.count("shutdown") == 2  # the run and the confirm each closed with one
    notes = split_notes((Path(signed["sink"]) / "checkpoints.log").read_text())  # type: ignore[arg-type]
    assert len(notes) == len(kinds)
    conn.close()


def test_edit_one_cell_names_the_row_and_column(signed: dict[str, Path | str], tmp_path: Path) -> None:
    db = _copy(signed, tmp_path)
    rowid = sqlite3.connect(db).execute("SELECT rowid FROM decisions WHERE event_id = 'INC-2025-001'").fetchone()[0]
    _tamper(db, "DROP TRIGGER decisions_no_update",
            "UPDATE decisions SET severity = 'NONE' WHERE event_id = 'INC-2025-001'")
    first = _problems(db, signed)[0]
    assert (first["seq"], first["table"], first["rowid"], first["column"]) == (1, "decisions", rowid, "severity")


def test_delete_a_row(signed: dict[str, Path | str], tmp_path: Path) -> None:
    db = _copy(signed, tmp_path)
    _tamper(db, "DROP TRIGGER firings_no_delete", "DELETE FROM firings WHERE id = 5")
    first = _problems(db, signed)[0]
    assert (first["table"], first["rowid"]) == ("firings", 5) and "deleted" in first["problem"]


def test_swap_two_rows(signed: dict[str, Path | str], tmp_path: Path) -> None:
    db = _copy(signed, tmp_path)
    conn = sqlite3.connect(db)
    a, b = conn.execute("SELECT event_id FROM intake WHERE id IN (2, 3) ORDER BY id").fetchall()
    conn.close()
    _tamper(db, "DROP TRIGGER intake_no_update", f"UPDATE intake SET event_id = '{b[0]}' WHERE id = 2",
            f"UPDATE intake SET event_id = '{a[0]}' WHERE id = 3")
    first = _problems(db, signed)[0]
    assert (first["table"], first["rowid"], first["column"]) == ("intake", 2, "event_id")


def test_insert_a_forged_row(signed: dict[str, Path | str], tmp_path: Path) -> None:
    db = _copy(signed, tmp_path)
    _tamper(db, "INSERT INTO incident_updates (event_id, incident_id, type, by) VALUES ('x', 'INC-2025-001', 'ack', "
                "'mallory')")
    problems = _problems(db, signed)
    assert any(p["table"] == "incident_updates" and "not in any ledger entry" in p["problem"] for p in problems)


def _rewrite(db: Path, key: SigningKey) -> None:
    """The attacker with write access: triggers dropped, a row changed, the ledger rebuilt and re-signed."""
    conn = sqlite3.connect(db, isolation_level=None)
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        conn.execute(f"DROP TRIGGER {name}")
    conn.execute("UPDATE decisions SET severity = 'NONE' WHERE event_id = 'INC-2025-001'")
    conn.execute("DELETE FROM ledger")
    conn.execute("DELETE FROM ledger_checkpoints")
    led = Ledger(conn, key=key, sink="")
    conn.execute("BEGIN IMMEDIATE")
    led.changes = -10**9  # every row counts as written by this connection: no "foreign" mark
    led.seal()
    conn.execute("COMMIT")
    led.committed()
    led.checkpoint("shutdown")
    conn.close()


def test_full_rewrite_under_a_new_key_fails_against_the_exported_checkpoint(
        signed: dict[str, Path | str], tmp_path: Path) -> None:
    db = _copy(signed, tmp_path)
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    _rewrite(db, SigningKey("test-key", Ed25519PrivateKey.generate()))
    res = rules("audit", "verify", "--db", str(db), "--format", "json")  # no keys, no export: it looks fine
    assert res.returncode == 0, res.stdout
    problems = _problems(db, signed)
    text = " ".join(p["problem"] for p in problems)
    assert "signed by unknown key" in text
    assert "exported checkpoint" in text  # the sink's checkpoints do not match the rebuilt ledger


def test_old_checkpoint_resigned_with_a_rotated_key_is_refused(signed: dict[str, Path | str], tmp_path: Path) -> None:
    seed2, vkey2 = new_key("test-key-2")
    conn = sqlite3.connect(signed["db"])
    size, note = conn.execute("SELECT size, note FROM ledger_checkpoints ORDER BY id LIMIT 1").fetchone()
    conn.close()
    keys = tmp_path / "keys"
    keys.write_text(Path(signed["keys"]).read_text() + f"{vkey2} from={size + 1}\n")  # type: ignore[arg-type]
    import base64

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    k2 = SigningKey("test-key-2", Ed25519PrivateKey.from_private_bytes(base64.b64decode(seed2)))
    forged = tmp_path / "forged.note"
    forged.write_text(sign(note.partition("\n\n")[0] + "\n", k2))
    assert len(parse_vkeys(keys.read_text())) == 2
    res = rules("audit", "verify", "--db", str(signed["db"]), "--keys", str(keys), "--external", str(forged),
                "--format", "json")
    assert res.returncode == 1
    assert any("re-signed after rotation" in p["problem"] for p in json.loads(res.stdout)["problems"])


def test_a_log_that_ran_unsigned_before_its_first_key(tmp_path: Path) -> None:
    """The quick start's log (no key), then a key: its first verifier line with from= accepts the unsigned
    checkpoints before it and no other; without from= verify names the unsigned one."""
    db = tmp_path / "escalation.db"
    res = rules("run", "--once", "--enqueue", str(ROOT / "sample-events"), "--rules", str(ROOT / "rules"),
                "--db", str(db), "--spool", str(tmp_path / "spool"), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    conn = sqlite3.connect(db)
    began = conn.execute("SELECT max(seq) + 1 FROM ledger").fetchone()[0]
    conn.close()
    seed, vkey = new_key("late-key")
    env = {"ESCALATION_LEDGER_KEY": seed, "ESCALATION_LEDGER_KEY_NAME": "late-key"}
    assert rules("confirm", "INC-2025-001", "--severity", "CRITICAL", "--by", "me", "--db", str(db),
                 env=env).returncode == 0  # a transaction, then a signed shutdown checkpoint
    keys = tmp_path / "keys"

    def verify(line: str) -> tuple[int, list[str]]:
        keys.write_text(line + "\n")
        out = rules("audit", "verify", "--db", str(db), "--keys", str(keys), "--format", "json")
        return out.returncode, [p["problem"] for p in json.loads(out.stdout)["problems"]]

    code, problems = verify(vkey)
    assert code == 1 and problems == [f"database checkpoint at size {began - 1}: unsigned (if the log ran without a "
                                      "key before signing began, give the first verifier key ' from=N', N one more "
                                      "than the ledger size then)"]
    assert verify(f"{vkey} from={began}") == (0, [])
    from engine.store import ledger_note

    conn = sqlite3.connect(db)
    (unsigned,) = conn.execute("SELECT note FROM ledger_checkpoints WHERE size = ?", (began - 1,)).fetchone()
    conn.close()
    late = parse_vkeys(f"{vkey} from={began}\n")
    assert ledger_note.check(ledger_note.parse(unsigned), late, predating=True) is None
    assert ledger_note.check(ledger_note.parse(unsigned), late).startswith("unsigned")  # a proof needs a signature
    code, problems = verify(f"{vkey} from={began - 1}")  # the unsigned checkpoint at size began - 1 is not before it
    assert code == 1 and len(problems) == 1 and f"size {began - 1}: unsigned" in problems[0]


def test_truncate_without_a_prune_checkpoint(signed: dict[str, Path | str], tmp_path: Path) -> None:
    db = _copy(signed, tmp_path)
    _tamper(db, "DROP TRIGGER ledger_no_delete", "DELETE FROM ledger WHERE seq <= 2")
    problems = _problems(db, signed)
    assert any(p["table"] == "ledger" and "missing" in p["problem"] for p in problems)


def test_prove_and_check_offline(signed: dict[str, Path | str], tmp_path: Path) -> None:
    proof = tmp_path / "proof.txt"
    res = rules("audit", "prove", "--event", "INC-2025-005", "-o", str(proof), "--db", str(signed["db"]))
    assert res.returncode == 0, res.stderr
    assert proof.stat().st_size < 4096
    res = rules("audit", "check-proof", str(proof), "--keys", str(signed["keys"]))
    assert res.returncode == 0 and res.stdout.startswith("ok: decisions row 'INC-2025-005'"), res.stdout
    text = proof.read_text()
    bad = tmp_path / "bad.txt"
    bad.write_text(text.replace('"MAJOR"', '"NONE"', 1))
    res = rules("audit", "check-proof", str(bad), "--keys", str(signed["keys"]))
    assert res.returncode == 1 and "not in the tree" in res.stdout
    other = tmp_path / "other-keys"
    other.write_text(new_key("test-key")[1] + "\n")
    res = rules("audit", "check-proof", str(proof), "--keys", str(other))
    assert res.returncode == 1 and "not trusted" in res.stdout


def test_ledger_off_writes_no_ledger(tmp_path: Path) -> None:
    res = rules("run", "--once", "--enqueue", str(ROOT / "sample-events" / "moderate-degradation.json"),
                "--rules", str(ROOT / "rules"), "--db", str(tmp_path / "a.db"), "--spool", str(tmp_path / "s"),
                cwd=tmp_path, env={"ESCALATION_LEDGER": "off"})
    assert res.returncode == 0, res.stderr
    conn = sqlite3.connect(tmp_path / "a.db")
    assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'ledger'").fetchone()[0] == 0
    conn.close()


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 13, 31, 64, 100])
def test_merkle_compact_range_and_inclusion(n: int) -> None:
    leaves = [m.leaf_hash(str(i).encode()) for i in range(n)]
    c = m.CompactRange()
    for leaf in leaves:
        c.append(leaf)
    assert c.head() == m.root(leaves)
    for i in range(n):
        path = m.inclusion_path(i, leaves)
        assert m.verify_inclusion(i, n, leaves[i], path, m.root(leaves))
        assert not m.verify_inclusion(i, n, m.leaf_hash(b"x"), path, m.root(leaves))


def test_merkle_matches_rfc6962_shape() -> None:
    a, b, c = (m.leaf_hash(x) for x in (b"a", b"b", b"c"))
    assert m.root([a, b, c]) == m.node_hash(m.node_hash(a, b), c)  # RFC 6962 §2.1: split at the largest power of 2
    assert verify(sqlite3.connect(":memory:")).ok  # nothing written, nothing wrong
