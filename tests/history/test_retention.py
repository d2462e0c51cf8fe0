"""``rules history prune``: rollups first, open incidents kept, the log still verifies; other deletions do not."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

from history_gen import BASE, Incident, expected_row
from history_kit import rules

from engine.report.history import list_incidents
from engine.store.audit import Audit
from engine.store.retention import prune

CUT = BASE + 10 * 86400


def test_prune_keeps_open_incidents_and_rollups_and_verifies(generated: tuple[Path, list[Incident]],
                                                              tmp_path: Path) -> None:
    src, incidents = generated
    db = tmp_path / "p.db"
    shutil.copy(src, db)
    gone = [i for i in incidents if i.opened < CUT and i.resolve]
    log = Audit(db)
    out = prune(log, CUT, batch=100)
    log.close()
    assert out["incidents"] == len(gone) > 100
    kept = {r["incident_id"] for r in list_incidents(db)}
    assert kept == {i.incident_id for i in incidents} - {i.incident_id for i in gone}
    assert any(i.opened < CUT and not i.resolve for i in incidents if i.incident_id in kept)  # old but open: kept
    want: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0, 0.0])
    for i in gone:
        row = expected_row(i)
        day = datetime.fromtimestamp(i.opened, UTC).strftime("%Y-%m-%d")
        want[(day, i.service)][0] += 1
        want[(day, i.service)][1] += row["resolution_time"]
    conn = sqlite3.connect(db)
    got: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0, 0.0])
    for day, service, n, total in conn.execute("SELECT day, service, incidents, resolution_sum FROM history_rollups"):
        got[(day, service)][0] += n
        got[(day, service)][1] += total
    assert {k: (v[0], round(v[1], 3)) for k, v in got.items()} == {k: (v[0], round(v[1], 3)) for k, v in want.items()}
    run = conn.execute("SELECT incidents, rows FROM retention_runs").fetchone()
    assert run == (len(gone), out["rows"])
    assert conn.execute("SELECT kind FROM ledger_checkpoints ORDER BY id DESC LIMIT 1").fetchone()[0] == "prune"
    conn.close()
    res = rules("audit", "verify", "--db", str(db), "--format", "json")
    assert res.returncode == 0, res.stdout
    # the same kind of deletion, not through prune: verify names it
    conn = sqlite3.connect(db)
    victim = conn.execute("SELECT rowid FROM decisions ORDER BY rowid LIMIT 1 OFFSET 5").fetchone()[0]
    conn.execute("DROP TRIGGER decisions_no_delete")
    conn.execute("DELETE FROM decisions WHERE rowid = ?", (victim,))
    conn.commit()
    conn.close()
    res = rules("audit", "verify", "--db", str(db), "--format", "json")
    first = json.loads(res.stdout)["problems"][0]
    assert res.returncode == 1 and (first["table"], first["rowid"]) == ("decisions", victim)


def test_prune_cli(generated: tuple[Path, list[Incident]], tmp_path: Path) -> None:
    src, incidents = generated
    db = tmp_path / "c.db"
    shutil.copy(src, db)
    res = rules("history", "prune", "--older-than", "2025-01-05T00:00:00Z", "--db", str(db))
    assert res.returncode == 0, res.stderr
    n = sum(1 for i in incidents if i.opened < datetime(2025, 1, 5, tzinfo=UTC).timestamp() and i.resolve)
    assert res.stdout.startswith(f"pruned {n} incident(s)")
    assert rules("audit", "verify", "--db", str(db)).returncode == 0
    res = rules("history", "prune", "--db", str(tmp_path / "none.db"))
    assert res.returncode == 3 and "no audit log" in res.stderr


def test_daemon_prunes_on_schedule(generated: tuple[Path, list[Incident]], tmp_path: Path) -> None:
    src, incidents = generated
    db = tmp_path / "d.db"
    shutil.copy(src, db)
    res = rules("run", "--once", "--history-days", "30", "--db", str(db), "--spool", str(tmp_path / "spool"),
                cwd=tmp_path)
    # the generated log's pending pages carry stub intents: executed, they fail, and a failed page is exit 4
    assert res.returncode in (0, 4), res.stderr
    assert '"event": "history-pruned"' in res.stderr or "pruned history" in res.stderr
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT incidents FROM retention_runs").fetchone()[0] == sum(1 for i in incidents if i.resolve)
    conn.close()
    assert rules("audit", "verify", "--db", str(db)).returncode == 0


def test_prune_takes_the_pagers_references_and_memberships_with_their_incident(
        generated: tuple[Path, list[Incident]], tmp_path: Path) -> None:
    src, incidents = generated
    db = tmp_path / "v.db"
    shutil.copy(src, db)
    old = [i for i in incidents if i.opened < CUT]
    gone = {i.incident_id for i in old if i.resolve}
    log = Audit(db)
    log.begin()
    for k, i in enumerate(old):  # what the pager and the grouping stage write for an incident
        log.insert("vendor_refs", [{"vendor": "pagerduty", "ref": f"dedup-{k}", "incident_id": i.incident_id,
                                    "origin": "trigger", "at": "2025-01-01T00:00:00Z"}])
        log.insert("incident_members", [{"incident_id": i.incident_id, "fingerprint": f"fp-{k}", "op": "join",
                                         "event_id": i.incident_id, "at": "2025-01-01T00:00:00Z"}])
    log.commit()
    prune(log, CUT, batch=100)
    log.close()
    conn = sqlite3.connect(db)
    for table in ("vendor_refs", "incident_members"):
        left = {r[0] for r in conn.execute(f"SELECT incident_id FROM {table}")}
        newest = conn.execute(f"SELECT incident_id FROM {table} ORDER BY rowid DESC LIMIT 1").fetchone()[0]
        # every old open or acked incident keeps its rows; a pruned one keeps none (but the table's newest
        # row, which prune keeps so sqlite cannot reuse its rowid below the ledger's marks)
        assert left - {newest} == {i.incident_id for i in old} - gone - {newest}, table
        assert len(left & gone) <= 1
    conn.close()
    assert rules("audit", "verify", "--db", str(db)).returncode == 0


def test_prune_takes_superseded_suppression_state_and_closed_fusion_windows(
        generated: tuple[Path, list[Incident]], tmp_path: Path) -> None:
    """A tracker keeps its newest state; a fusion window closed before the cut goes, one still open (or closed
    after the cut) keeps its signals; and what open_windows/trackers read back is unchanged by the prune."""
    from engine.store.incidents import IncidentStore

    src, _ = generated
    db = tmp_path / "s.db"
    shutil.copy(src, db)
    old, new = CUT - 86400, CUT + 86400
    iso = {t: datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
           for t in (old, new)}
    log = Audit(db)
    store = IncidentStore(log.conn, "h", log.defer, log.flush)
    log.begin()
    for k in range(3):
        store.tracker("flappy", {"n": k}, iso[old])  # two superseded before the cut, the newest kept
    store.tracker("quiet", {"n": 9}, iso[old])  # old, but its key's newest: kept
    store.tracker("busy", {"n": 0}, iso[old])  # superseded by a state after the cut: goes
    store.tracker("busy", {"n": 1}, iso[new])
    store.signal("closed-old", "f", "svc", "signal", "e1", "INC-1", "k", {"a": 1}, old)
    store.signal("closed-old", "f", "svc", "closed", "e2", "INC-1", "k", None, old)
    store.signal("closed-new", "f", "svc", "signal", "e3", "INC-2", "k", {"a": 2}, old)
    store.signal("closed-new", "f", "svc", "closed", "e4", "INC-2", "k", None, new)
    store.signal("still-open", "f", "svc", "signal", "e5", "INC-3", "k", {"a": 3}, old)
    store.signal("reopened", "f", "svc", "signal", "e6", "INC-4", "k", {"a": 4}, old)
    store.signal("reopened", "f", "svc", "expired", "e7", "INC-4", "k", None, old)
    store.signal("reopened", "f", "svc", "signal", "e8", "INC-4", "k", {"a": 5}, new)
    store.tracker("last", {"n": 0}, iso[new])  # the tables' newest rows, which prune always keeps
    store.signal("last", "f", "svc", "signal", "e9", "INC-5", "k", None, new)
    log.commit()
    before = (store.trackers(), store.open_windows())
    out = prune(log, CUT, batch=100)
    store = IncidentStore(log.conn, "h", log.defer, log.flush)
    assert (store.trackers(), store.open_windows()) == before
    log.close()
    conn = sqlite3.connect(db)
    states = [(k, json.loads(s)["n"]) for k, s in conn.execute("SELECT key, state FROM suppress_state ORDER BY id")]
    assert states == [("flappy", 2), ("quiet", 9), ("busy", 1), ("last", 0)]
    signals = [(s, e) for s, e in conn.execute("SELECT sid, event_id FROM fusion_signals ORDER BY id")]
    assert signals == [("closed-new", "e3"), ("closed-new", "e4"), ("still-open", "e5"), ("reopened", "e8"),
                       ("last", "e9")]
    assert out["state_rows"] == 3 + 2 + 2  # flappy 0, 1 and busy 0; closed-old both; reopened's first signal, expiry
    conn.close()
    assert rules("audit", "verify", "--db", str(db)).returncode == 0
