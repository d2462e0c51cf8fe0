"""`rules impact --store memory` (the default) reports exactly what the sqlite store reports.

The memory store (engine/store/replay_audit.py, memory_incidents.py, memory_history.py) replaces the
daemon's sqlite tables during a replay; the sqlite store is the reference. Equal on a recorded log
with every kind of suppression, acks and resolves, escalation steps and a changed threshold; the
memory incident store against the sqlite one on the same operations; a manual escalation, which reads
the outbox with SQL, is refused by the memory store with the way out.
"""

from __future__ import annotations

import json
import random
import shutil
import sqlite3
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from review_util import RULES, SAMPLES, rules

from actions.base import Intent
from engine.cli.options import load_compiled
from engine.run.pipeline import Pipeline
from engine.run.replay import VirtualClock
from engine.run.review import impact as im
from engine.run.review.impact_jobs import replay_both
from engine.store import replay as audit_replay
from engine.store.audit import Audit
from engine.store.history import DecisionRows
from engine.store.memory_history import MemoryDecisionRows
from engine.store.replay_audit import ReplayAudit, ReplayUnsupported

T0 = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)  # a Monday


def _at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def _event(eid: str, t: float, service: str, title: str = "Elevated error rate", **fields: Any) -> dict[str, Any]:
    return {"event_id": eid, "timestamp": _at(t), "service": service, "source": "test", "title": title, **fields}


def _sequence() -> list[tuple[float, dict[str, Any]]]:
    """(intake seconds, body): dedup, upgrade, grouping, flapping, inhibition, persistence, fusion, acks,
    resolves (monitor and operator), a reopened incident, pages with escalation steps, the 1–2 % error rates
    a changed threshold moves."""
    out: list[tuple[float, dict[str, Any]]] = []
    moderate, major, critical = {"error_rate": 0.015}, {"error_rate": 0.06}, {"availability": 0.3}
    for i in range(4):  # repeats of one fingerprint, then a more severe one (upgrade)
        out.append((i * 60, _event(f"dd-{i}", i * 60, "checkout-api", metrics=moderate)))
    out.append((240, _event("dd-up", 240, "checkout-api", metrics=major)))
    out.append((300, {"type": "ack", "event_id": "ack-1", "incident_id": "dd-0", "by": "alice",
                      "timestamp": _at(300)}))
    for i, title in enumerate(("Disk slow", "Queue backlog", "Cache misses")):  # one group per service
        out.append((10 + i * 30, _event(f"grp-{i}", 10 + i * 30, "search-api", title, metrics=major)))
    for i in range(3):  # the members resolve: member-resolved, then closed
        out.append((400 + i * 30, _event(f"grp-r{i}", 400 + i * 30, "search-api",
                                         ("Disk slow", "Queue backlog", "Cache misses")[i], status="resolved",
                                         metrics=major)))
    for i in range(10):  # firing/resolved every 30 s: held down after 4 changes
        out.append((20 + i * 30, _event(f"flap-{i}", 20 + i * 30, "flappy-api", "Link down", fingerprint="flap-1",
                                        status="firing" if i % 2 == 0 else "resolved", metrics=major)))
    out.append((30, _event("inh-src", 30, "payments-api", "Down", metrics=critical)))
    out.append((90, _event("inh-tgt", 90, "payments-api", "Slow checkout", metrics=moderate)))
    out.append((150, {"type": "resolve", "event_id": "res-1", "incident_id": "inh-src", "by": "bob",
                      "timestamp": _at(150)}))
    # within the dedup window of inh-src, but that incident was resolved: a new incident, paged
    out.append((200, _event("inh-again", 200, "payments-api", "Down", metrics=critical)))
    for i in range(4):  # disk warnings persist for 3 events before they page
        out.append((40 + i * 60, _event(f"disk-{i}", 40 + i * 60, "storage-api", "Disk filling",
                                        labels={"alertname": "DiskFull"}, metrics=moderate)))
    fusion = ({"logs": [{"level": "error", "count": 80}]}, {"metrics": {"latency_p99_ms": 700}},
              {"traces": {"total_spans": 100, "error_spans": 30}})
    for i, signal in enumerate(fusion):  # three signals within the window: one fused CRITICAL incident
        out.append((50 + i * 40, _event(f"fus-{i}", 50 + i * 40, "orders-api", f"Signal {i}", **signal)))
    for i in range(30):  # more threshold-sensitive events on other services, some after the dedup window
        t = 700 + i * 45
        rate = {"error_rate": 0.011 + i / 1000}
        out.append((t, _event(f"thr-{i}", t, f"svc-{i % 5}", f"Errors {i % 3}", metrics=rate)))
    return sorted(out, key=lambda x: x[0])


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The daemon's pipeline on a virtual clock: the sequence above, then the sample events."""
    db = tmp_path_factory.mktemp("store") / "escalation.db"
    clock = VirtualClock(T0)
    audit = Audit(db, clock=clock.now)
    pipeline = Pipeline(load_compiled(RULES, quiet_warnings=True), audit)
    for t, body in _sequence():
        clock.set(T0 + timedelta(seconds=t))
        assert pipeline.process(f"{body['event_id']}.json", json.dumps(body).encode()).ok
    for path in sorted(SAMPLES.rglob("*.json")):
        pipeline.process(path.name, path.read_bytes())
    audit.close()
    return db


def _items(db: Path) -> list[im.Item]:
    conn = audit_replay.open_readonly(db)
    try:
        return [im.Item(r.kind, f"audit:{r.event_id}", r.payload, datetime.fromisoformat(r.at.replace("Z", "+00:00")),
                        r.event_id, r.model, r.decision_rowid) for r in audit_replay.recorded(conn)]
    finally:
        conn.close()


def _threshold(tmp_path: Path) -> Path:
    head = tmp_path / "head"
    shutil.copytree(RULES, head)
    sev = head / "severity.yaml"
    sev.write_text(sev.read_text().replace("metrics.error_rate: {gte: 0.01}", "metrics.error_rate: {gte: 0.02}"))
    return head


def _report(db: Path, base: Any, head: Any, store: str) -> dict[str, Any]:
    items = _items(db)

    def history() -> im.RecordedHistory:
        conn = audit_replay.open_readonly(db)
        try:
            return im.RecordedHistory(conn, store=store)
        finally:
            conn.close()

    summaries = replay_both(base, head, items, model=im.verdicts_model(items), history_factory=history, store=store)
    return {"summaries": summaries, "report": im.compare(*summaries).as_dict()}


def test_the_recorded_log_holds_every_kind_of_suppression(recorded: Path) -> None:
    with sqlite3.connect(recorded) as conn:
        mechanisms = {m for (m,) in conn.execute("SELECT DISTINCT mechanism FROM suppressions")}
        updates = Counter(t for (t,) in conn.execute("SELECT type FROM incident_updates"))
        steps = conn.execute("SELECT max(step) FROM actions WHERE kind = 'page'").fetchone()[0]
    assert {"dedup", "group", "flap", "inhibit", "persistence", "fusion", "resolve"} <= mechanisms
    assert updates["ack"] >= 1 and updates["resolve"] >= 1 and steps >= 1


def test_memory_store_reports_what_the_sqlite_store_reports(recorded: Path, tmp_path: Path) -> None:
    compiled, head = load_compiled(RULES, quiet_warnings=True), load_compiled(_threshold(tmp_path), quiet_warnings=True)
    for base_rules, head_rules, changed in ((compiled, compiled, False), (compiled, head, True)):
        sqlite_side = _report(recorded, base_rules, head_rules, "sqlite")
        memory_side = _report(recorded, base_rules, head_rules, "memory")
        assert memory_side == sqlite_side
        assert (memory_side["report"]["changed_events"] > 0) is changed
    base = memory_side["summaries"][0]
    assert {"dedup", "group", "flap", "inhibit", "persistence", "fusion"} <= {s["suppressed"] for s in base.values()}
    assert base["inh-again"]["incident_id"] == "inh-again" and base["inh-again"]["pages"]  # the resolve held


def test_the_cli_store_flag_gives_the_same_report(recorded: Path, tmp_path: Path) -> None:
    head = _threshold(tmp_path)
    docs = []
    for store in ("sqlite", "memory"):
        res = rules("impact", "--baseline", str(RULES), "--rules", str(head), "--db", str(recorded), "--format",
                    "json", "--jobs", "1", "--store", store)
        assert res.returncode == 0, res.stderr
        docs.append(json.loads(res.stdout))
    assert docs[0] == docs[1] and docs[0]["changed_events"] > 0


def test_a_manual_escalation_is_refused_in_memory_and_replayed_with_sqlite(tmp_path: Path) -> None:
    """An escalate item reads the outbox with SQL (engine/store/escalations.py): the memory store says so."""
    events = tmp_path / "events"
    events.mkdir()
    (events / "1-page.json").write_text(json.dumps(_event("esc-0", 0, "checkout-api", "Down",
                                                          metrics={"availability": 0.3})))
    (events / "2-escalate.json").write_text(json.dumps({"type": "escalate", "event_id": "esc-1", "incident_id": "esc-0",
                                                        "by": "alice", "timestamp": _at(60)}))
    common = ("impact", "--baseline", str(RULES), "--rules", str(RULES), "--events", str(events), "--model", "none",
              "--format", "json", "--jobs", "1")
    refused = rules(*common)
    assert refused.returncode == 3
    assert "in-memory replay log cannot answer this read" in refused.stderr and "--store sqlite" in refused.stderr
    assert "Traceback" not in refused.stderr
    done = rules(*common, "--store", "sqlite")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["events"] == 1


# -- the stores, operation by operation ---------------------------------------------------------------------
def _intent(incident: str, action: str, kind: str, step: int, env: str = "production") -> Intent:
    return Intent(action=action, kind=kind, incident_id=incident, event_id=f"{incident}-e", severity="MAJOR",
                  service="svc", environment=env, level="P1", step=step,
                  params={"routing_key_env": f"KEY_{step}"} if action == "pagerduty" and step else {})


def _operations(seed: int) -> list[tuple[str, tuple[Any, ...]]]:
    """A random sequence of the stage's writes (full and partial incident rows, joins and leaves, trackers,
    signals and window closes) and of the outbox's (requests, supersedes)."""
    rnd = random.Random(seed)
    ops: list[tuple[str, tuple[Any, ...]]] = []
    incidents = [f"inc-{i}" for i in range(6)]
    for n in range(300):
        inc, at = rnd.choice(incidents), _at(n)
        kind = rnd.random()
        if kind < 0.25:
            full = rnd.random() < 0.4
            state: dict[str, Any] = {"last_at": float(n), "repeats": n}
            if full:
                state.update(incident_id=inc, service="svc", severity=rnd.choice(["MAJOR", "CRITICAL"]),
                             doc={"service": "svc", "labels": {"n": str(n)}}, members=1,
                             status=rnd.choice(["open", "open", "closed"]))
            ops.append(("incident", (inc, rnd.choice(["open", "repeat", "attach", "upgrade", "close"]), f"e{n}", at,
                                     "MAJOR", "why", state)))
        elif kind < 0.45:
            ops.append(("member", (inc, f"fp-{rnd.randrange(5)}", rnd.choice(["join", "join", "leave"]), f"e{n}", at)))
        elif kind < 0.6:
            ops.append(("tracker", (f"fp-{rnd.randrange(5)}", {"last_status": "firing", "changes": [float(n)],
                                                               "hold_until": 0.0, "streak": n}, at)))
        elif kind < 0.75:
            sid = f"sid-{rnd.randrange(3)}"
            op = rnd.choice(["signal", "signal", "signal", "fused", "expired"])
            ops.append(("signal", (sid, "fusion-1", "svc", op, f"e{n}", inc, "latency", {"n": n} if op == "signal"
                                   else None, float(n))))
        elif kind < 0.9:
            ops.append(("request", (_intent(inc, rnd.choice(["pagerduty", "slack", "opsgenie"]),
                                            rnd.choice(["page", "page", "notify"]), rnd.randrange(3)),)))
        else:
            ops.append(("supersede", (inc,)))
    return ops


def _apply(audit: Audit, store: Any, ops: list[tuple[str, tuple[Any, ...]]]) -> None:
    for name, args in ops:
        if name == "request":
            audit.request_actions(args, args[0].event_id, "h", None)
        elif name == "supersede":
            for action_id, _ in store.pending(args[0])[:1]:
                store.supersede(action_id, "superseded by a test", _at(0))
        else:
            getattr(store, name)(*args)


@pytest.mark.parametrize("seed", range(8))
def test_memory_incident_store_reads_what_the_sqlite_store_reads(seed: int) -> None:
    ops = _operations(seed)
    disk, memory = Audit(":memory:", clock=lambda: _at(0)), ReplayAudit(lambda: _at(0))
    stores = disk.incident_store("h"), memory.incident_store("h")
    for audit, store in zip((disk, memory), stores, strict=True):
        _apply(audit, store, ops)
    sql, mem = stores
    assert mem.open_incidents() == sql.open_incidents()
    assert mem.trackers() == sql.trackers()
    assert mem.open_windows() == sql.open_windows()
    for inc in {args[0] for name, args in ops if name == "incident"}:
        assert mem.incident_state(inc) == sql.incident_state(inc)
        assert mem.members(inc) == sql.members(inc)
        assert mem.paged(inc) == sql.paged(inc)
        assert sorted(mem.pending(inc)) == sorted(sql.pending(inc))
        assert memory.has_incident(inc) == disk.has_incident(inc)
    disk.close()


def test_a_state_written_is_a_snapshot() -> None:
    """A later change to the stage's objects is not seen through the store (sqlite stores JSON text)."""
    store = ReplayAudit(lambda: _at(0)).incident_store("h")
    state = {"incident_id": "i", "status": "open", "doc": {"labels": {"a": "1"}}, "severity": "MAJOR"}
    store.incident("i", "open", "e", _at(0), "MAJOR", "", state)
    state["doc"]["labels"]["a"] = "2"
    state["severity"] = "CRITICAL"
    assert store.incident_state("i") == {"incident_id": "i", "status": "open", "doc": {"labels": {"a": "1"}},
                                         "severity": "MAJOR"}
    store.incident_state("i")["doc"]["labels"]["a"] = "3"  # nor a change to what a read returned
    assert store.incident_state("i")["doc"]["labels"]["a"] == "1"


def test_the_outbox_reads_as_the_sqlite_outbox() -> None:
    """Acks and resolves: incident updates (once per event id), vendor refs, pages requested once per key."""
    disk, memory = Audit(":memory:", clock=lambda: _at(5)), ReplayAudit(lambda: _at(5))
    from engine.model.event import Acknowledgement

    for audit in (disk, memory):
        page = _intent("inc-1", "pagerduty", "page", 0)
        assert audit.request_actions([page, page], "e", "h") == [1]
        ack = Acknowledgement(type="ack", event_id="a1", incident_id="inc-1", by="al", timestamp=T0)
        assert audit.record_incident_update(ack, "h") and not audit.record_incident_update(ack, "h")
        assert audit.record_vendor_ref("pagerduty", "PQ1", "inc-1", "ack:a1")
        assert not audit.record_vendor_ref("pagerduty", "PQ1", "inc-2", "ack:a2")
    assert memory.incident_updates("inc-1") == disk.incident_updates("inc-1")
    assert memory.incident_updates_by_event("a1") == disk.incident_updates_by_event("a1") == "inc-1"
    assert memory.vendor_ref("pagerduty", "PQ1") == disk.vendor_ref("pagerduty", "PQ1") == "inc-1"
    assert memory.paged("inc-1") == disk.paged("inc-1") == {}  # nothing was sent: no result, no attempt
    assert memory.has_incident("inc-1") and not memory.has_incident("inc-2")
    with pytest.raises(ReplayUnsupported, match="--store sqlite"):
        memory.pending_actions()
    disk.close()


@pytest.mark.parametrize("seed", range(4))
def test_memory_decision_rows_answer_the_history_queries_as_sqlite(seed: int) -> None:
    rnd = random.Random(seed)
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE decisions (service TEXT, severity TEXT, incident_id TEXT, event_epoch REAL)")
    conn.execute("CREATE INDEX idx_service_epoch ON decisions (service, event_epoch)")
    sql, mem = DecisionRows(conn), MemoryDecisionRows()
    epoch = 1_700_000_000.0
    for n in range(400):
        epoch += rnd.choice([0, 1, 30, 600, 3600, 40_000]) * (1 if rnd.random() < 0.9 else -1)  # some out of order
        row = (rnd.choice(["a", "b", "c"]), rnd.choice(["NONE", "MODERATE", "MAJOR", "CRITICAL"]),
               f"i{rnd.randrange(40)}", None if n % 37 == 0 else epoch)
        conn.execute("INSERT INTO decisions VALUES (?, ?, ?, ?)", row)
        mem.append(*row)
        if n % 20 == 0:
            assert mem.newest() == sql.newest() and mem.since(n // 2) == sql.since(n // 2)
            for service in "abc":
                now = epoch + rnd.choice([-5000, 0, 0.5, 4000])
                assert mem.of_service(service, now - 86_400) == sql.of_service(service, now - 86_400)
                assert mem.last_incident(service, now) == sql.last_incident(service, now)
                assert mem.counts(service, now) == sql.counts(service, now)
