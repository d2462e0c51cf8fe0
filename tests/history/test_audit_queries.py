"""``rules audit firings|why|paged`` against the generated history (answers computed here) and the samples."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from history_gen import BASE, HASHES, RULE_OF, Incident
from history_kit import ROOT, rules

from engine.store.audit_queries import firings, paged
from engine.store.readonly import connect_ro


def test_firings_counts_by_rule_and_hash(generated: tuple[Path, list[Incident]]) -> None:
    path, incidents = generated
    want = Counter((f"severity:{RULE_OF[s]}", i.rules_hashes[0]) for i in incidents for s in i.severities)
    conn = connect_ro(path)
    got = {(r["rule"], r["rules_hash"]): r["firings"] for r in firings(conn)}
    assert got == dict(want)
    day = [i for i in incidents if BASE + 86400 <= i.opened < BASE + 2 * 86400]
    rows = firings(conn, rule="latency-degraded", since=BASE + 86400, until=BASE + 2 * 86400)
    assert sum(r["firings"] for r in rows) == sum(i.severities.count("MAJOR") for i in day)
    assert {r["rules_hash"] for r in firings(conn, rules_hash=HASHES[1][:6])} == {HASHES[1]}
    each = firings(conn, rule="service-unavailable", grouped=False, limit=5)
    newest = sorted((i for i in incidents if "CRITICAL" in i.severities), key=lambda i: -i.opened)[0]
    assert each[0]["incident_id"] == newest.incident_id and len(each) == 5
    conn.close()


def test_paged_to_one_person(generated: tuple[Path, list[Incident]]) -> None:
    path, incidents = generated
    conn = connect_ro(path)
    rows = paged(conn, since="2025-01-03T00:00:00Z", until="2025-01-04T00:00:00Z")
    conn.close()
    lo = BASE + 2 * 86400
    want = sum(len(i.pages) for i in incidents if lo <= i.opened < lo + 86400)
    assert len(rows) == want > 0
    acked = {i.incident_id: i.ack for i in incidents}
    for r in rows:
        ack = acked[r["incident_id"]]
        assert r["acked_by"] == (ack[0] if ack else None)


def test_paged_cli_by_target_on_the_samples(sample_db: Path) -> None:
    res = rules("audit", "paged", "--who", "dave@company.com", "--format", "json", "--db", str(sample_db))
    assert res.returncode == 0, res.stderr
    rows = json.loads(res.stdout)
    assert {r["incident_id"] for r in rows} >= {"INC-2025-005", "INC-2025-003"}
    assert all("dave@company.com" in r["targets"] for r in rows)
    assert {r["adapter"] for r in rows} == {"pagerduty", "slack"}


def test_why_explains_the_decision_and_the_rest(sample_db: Path) -> None:
    res = rules("audit", "why", "INC-2025-002", "--format", "json", "--db", str(sample_db),
                "--rules", str(ROOT / "rules"))
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["severity"] == "MAJOR" and out["deciding_rule"] == "latency-degraded" and out["computed"]
    assert out["conditions"] == ["metrics.latency_p99_ms gte 1000 (actual 1800.0)"]
    nd = {n["rule"]: n for n in out["not_decided"]}
    assert nd["sla-breach-risk"]["first_failure"] == "metrics.availability lt 0.99 (actual 0.995)"
    assert nd["data-loss-risk"]["first_failure"] == "conditions.data_loss_risk eq True (actual missing)"
    assert nd["error-rate-elevated"]["why"] == "matched, outranked by the deciding rule"
    res = rules("audit", "why", "NOPE", "--db", str(sample_db))
    assert res.returncode == 1 and res.stderr.strip() == f"error: no decision for event 'NOPE' in {sample_db}"


def test_why_with_other_rules_says_so(sample_db: Path, tmp_path: Path) -> None:
    other = tmp_path / "rules"
    other.mkdir()
    for f in (ROOT / "rules").glob("*.yaml"):
        (other / f.name).write_text(f.read_text() + ("\n# changed\n" if f.name == "severity.yaml" else ""))
    res = rules("audit", "why", "INC-2025-001", "--db", str(sample_db), "--rules", str(other))
    assert res.returncode == 0, res.stderr
    assert "not loaded (--rules has" in res.stdout and "conditions not evaluated" in res.stdout


def test_datasette_metadata_describes_every_table_and_its_queries_run(sample_db: Path) -> None:
    res = rules("audit", "metadata", "--db", str(sample_db))
    assert res.returncode == 0, res.stderr
    meta = json.loads(res.stdout)
    db = meta["databases"][sample_db.stem]
    conn = connect_ro(sample_db)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables <= set(db["tables"]), tables - set(db["tables"])
    for name, table in db["tables"].items():
        cols = {r[1] for r in conn.execute(f"PRAGMA table_info({name})")}
        assert set(table.get("columns", {})) <= cols, (name, set(table.get("columns", {})) - cols)
    params = {"event_id": "INC-2025-005", "who": "dave@company.com", "incident_id": "INC-2025-005"}
    for name, q in db["queries"].items():
        rows = conn.execute(q["sql"], params).fetchall()
        assert rows, f"canned query {name} returns nothing on the samples"
    conn.close()


def test_firings_over_the_whole_log_from_the_rollup_and_the_tail(generated: tuple[Path, list[Incident]],
                                                                 tmp_path: Path) -> None:
    import shutil

    from engine.store.audit import Audit

    src, incidents = generated
    db = tmp_path / "r.db"
    shutil.copy(src, db)
    res = rules("audit", "rollup", "--db", str(db))
    assert res.returncode == 0 and res.stdout.startswith("firings rollup refreshed: 8 group(s)"), res.stdout
    # after the snapshot: a second firing of a rule an incident already had, a new incident, an incident-less one
    old = next(i for i in incidents if i.severities[0] == "MAJOR")
    extra = [(f"{old.incident_id}-late", old.incident_id, "MAJOR", old.opened + 5000, old.rules_hashes[0]),
             ("INC-NEW", "INC-NEW", "MAJOR", BASE + 9e7, HASHES[1]), ("LOOSE", "", "MAJOR", BASE + 9e7 + 1, HASHES[1])]
    log = Audit(db)
    log.begin()
    for eid, inc, sev, epoch, h in extra:
        log.insert("decisions", [{"event_id": eid, "incident_id": inc, "severity": sev, "event_epoch": epoch,
                                  "rules_hash": h}])
        log.insert("firings", [{"event_id": eid, "seq": 0, "rule": "severity:latency-degraded", "stage": "severity",
                                "selected": 1, "rules_hash": h}])
    log.commit()
    log.close()
    want: dict[tuple[str, str], list] = {}  # type: ignore[type-arg]
    items = [(i.incident_id, s, i.opened + k * 30, i.rules_hashes[0]) for i in incidents
             for k, s in enumerate(i.severities)] + [(inc, s, e, h) for _, inc, s, e, h in extra]
    for inc, sev, epoch, h in items:
        w = want.setdefault((f"severity:{RULE_OF[sev]}", h), [0, set(), epoch, epoch])
        w[0] += 1
        w[1].add(inc)
        w[2], w[3] = min(w[2], epoch), max(w[3], epoch)
    conn = connect_ro(db)
    got = {(r["rule"], r["rules_hash"]): [r["firings"], r["incidents"], r["first"], r["last"]] for r in firings(conn)}
    live = {(r["rule"], r["rules_hash"]): [r["firings"], r["incidents"], r["first"], r["last"]]
            for r in firings(conn, stage="severity")}  # a filter: the full scan
    conn.close()
    from engine.store.audit_queries import _iso

    assert got == live == {k: [n, len(s), _iso(a), _iso(b)] for k, (n, s, a, b) in want.items()}
