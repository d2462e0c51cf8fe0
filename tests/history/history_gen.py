"""A generated audit log of many incidents whose history answers are known without SQL.

:func:`generate` writes rows into a real audit log (the tables engine/store/migrations.py
creates) and returns the model it drew them from: one :class:`Incident` per incident, from which the
tests compute each expected history row in plain Python (:func:`expected_row`). Also used by
benchmarks/history.py at a larger scale.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.store.audit import Audit

SEVERITIES = ("NONE", "MODERATE", "MAJOR", "CRITICAL")
TEAMS = {"backend": "alice@company.com", "frontend": "dave@company.com", "sre": "sre-oncall@company.com",
         "data": "erin@company.com"}
RULE_OF = {"CRITICAL": "service-unavailable", "MAJOR": "latency-degraded", "MODERATE": "error-rate-elevated",
           "NONE": "default"}
HASHES = ("a" * 64, "b" * 64)
BASE = datetime(2025, 1, 1, tzinfo=UTC).timestamp()


@dataclass
class Incident:
    incident_id: str
    service: str
    team: str
    opened: float
    severities: list[str]
    rules_hashes: list[str]
    pages: list[tuple[int, str | None]] = field(default_factory=list)  # (step, outcome or None = pending)
    remediations: list[tuple[str, str | None]] = field(default_factory=list)  # (action, outcome or None)
    ack: tuple[str, float] | None = None
    resolve: tuple[str, float] | None = None
    suppressed: int = 0
    held: int = 0


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


_TABLES = ("decisions", "firings", "actions", "results", "updates", "supp", "events")


def generate(path: Path, n: int, seed: int = 7, services: int = 25, noise_every: int = 5, *, events: bool = False,
             chunk: int = 1000, keep: bool = True) -> list[Incident]:
    """Write ``n`` incidents (plus an undecided NONE event every ``noise_every``) into a new audit log, one
    transaction (so one ledger entry) per ``chunk`` incidents; ``events``: an ``events`` row with a payload per
    decision too. ``keep=False`` returns only every 1,000th incident (a large log's model does not fit in memory)."""
    rng = random.Random(seed)
    audit = Audit(path)
    names = [f"svc-{k:02d}" for k in range(services)]
    team_of = {s: list(TEAMS)[k % len(TEAMS)] for k, s in enumerate(names)}
    incidents: list[Incident] = []
    rows: dict[str, list[tuple[Any, ...]]] = {t: [] for t in _TABLES}
    action_id = 0
    for i in range(n):
        if i and i % chunk == 0:
            _write(audit, rows)
        service = rng.choice(names)
        opened = BASE + i * 600 + rng.randrange(0, 300)
        first = rng.choice(SEVERITIES)
        sevs = [first] + [rng.choice(SEVERITIES[SEVERITIES.index(first):]) for _ in range(rng.randrange(0, 3))]
        h = HASHES[0] if i < n // 2 else HASHES[1]
        inc = Incident(f"INC-{i:07d}", service, team_of[service], opened, sevs, [h] * len(sevs))
        for k, sev in enumerate(sevs):
            eid = inc.incident_id if k == 0 else f"{inc.incident_id}-e{k}"
            owner = {"team": inc.team, "primary": [TEAMS[inc.team]], "backup": ["lead@company.com"]}
            level = {"CRITICAL": "P0", "MAJOR": "P1", "MODERATE": "P2", "NONE": "P3"}[sev]
            rows["decisions"].append((eid, inc.incident_id, service, sev, 1.0, json.dumps(owner),
                                      json.dumps({"level": level}), "null", "[]",
                                      json.dumps([f"severity:{RULE_OF[sev]}"]), "[]", _iso(opened + k), h,
                                      opened + k * 30))
            if events:
                rows["events"].append((eid, _iso(opened + k), _iso(opened + k * 30), "prometheus", service, "prod",
                                       "firing", json.dumps({"alert": RULE_OF[sev], "service": service, "host":
                                                             f"{service}-{i % 7}.prod", "value": rng.random()}), h))
            rows["firings"].append((eid, 0, f"severity:{RULE_OF[sev]}", "severity", 1, "{}", _iso(opened + k), h))
        if rng.random() < 0.6:
            inc.ack = (rng.choice(list(TEAMS.values())), opened + rng.randrange(10, 900))
        if rng.random() < 0.5:
            inc.resolve = (rng.choice(list(TEAMS.values())), opened + rng.randrange(60, 7200))
        if first != "NONE":
            for step in range(rng.randrange(1, 4)):
                outcome = rng.choice(["ok", "ok", "failed", "not-configured", "cancelled", "superseded", None])
                inc.pages.append((step, outcome))
            if rng.random() < 0.4:
                inc.remediations.append((rng.choice(["restart", "scale-out", "failover"]),
                                         rng.choice(["ok", "failed", "not-configured", None])))
        for kind, items in (("page", inc.pages), ("remediate", inc.remediations)):
            for a, outcome in items:
                action_id += 1
                action, step = ("pagerduty", a) if kind == "page" else (a, 0)
                intent = json.dumps({"targets": [TEAMS[inc.team]]} if kind == "page" else {})
                rows["actions"].append((action_id, f"k{action_id}", inc.incident_id, inc.incident_id, action, kind,
                                        step, _iso(opened), intent, _iso(opened), h))
                if outcome is not None:
                    rows["results"].append((action_id, outcome, "", _iso(opened + 1), h))
        for typ, upd in (("ack", inc.ack), ("resolve", inc.resolve)):
            if upd:
                rows["updates"].append((f"{inc.incident_id}-{typ}", inc.incident_id, typ, upd[0], "manual",
                                        datetime.fromtimestamp(upd[1], UTC).isoformat(), _iso(upd[1]), h))
        inc.suppressed = rng.randrange(0, 4) if rng.random() < 0.3 else 0
        inc.held = int(rng.random() < 0.2)
        for k in range(inc.suppressed):
            rows["supp"].append((f"{inc.incident_id}-r{k}", inc.incident_id, rng.choice(["repeat", "attached",
                                                                                         "suppressed"])))
        for k in range(inc.held):
            rows["supp"].append((f"{inc.incident_id}-h{k}", inc.incident_id, "held"))
        if noise_every and i % noise_every == 0:  # a decision that opened no incident
            rows["decisions"].append((f"NOISE-{i}", "", service, "NONE", 1.0, "{}", "{}", "null", "[]", "[]", "[]",
                                      _iso(opened), h, opened))
        if keep or i % 1000 == 0:
            incidents.append(inc)
    _write(audit, rows)
    audit.close()
    return incidents


def _write(audit: Audit, rows: dict[str, list[tuple[Any, ...]]]) -> None:
    """The rows drawn so far, in one sealed transaction; the lists are emptied."""
    c = audit.conn
    audit.begin()
    c.executemany("INSERT INTO events (event_id, at, timestamp, source, service, environment, status, payload, "
                  "rules_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows["events"])
    c.executemany("INSERT INTO decisions (event_id, incident_id, service, severity, confidence, owner, escalation, "
                  "remediation, notifications, fired_rules, problems, at, rules_hash, event_epoch) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows["decisions"])
    c.executemany("INSERT INTO firings (event_id, seq, rule, stage, selected, bindings, at, rules_hash) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows["firings"])
    c.executemany("INSERT INTO actions (id, idempotency_key, event_id, incident_id, action, kind, step, due_at, "
                  "intent, at, rules_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows["actions"])
    c.executemany("INSERT INTO results (action_id, outcome, detail, at, rules_hash) VALUES (?, ?, ?, ?, ?)",
                  rows["results"])
    c.executemany("INSERT INTO incident_updates (event_id, incident_id, type, by, source, occurred_at, at, "
                  "rules_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows["updates"])
    c.executemany("INSERT INTO suppressions (event_id, incident_id, outcome) VALUES (?, ?, ?)", rows["supp"])
    audit.commit()
    for v in rows.values():
        v.clear()


def expected_row(inc: Incident) -> dict[str, Any]:
    """The history row of ``inc``, computed from the model (no SQL)."""
    gone = ("cancelled", "superseded")
    sent = [(step, o) for step, o in inc.pages if o is not None and o not in gone]
    status = "resolved" if inc.resolve else "acked" if inc.ack else "open"
    actions: list[str] = []
    for a, _ in inc.remediations:
        if a not in actions:
            actions.append(a)
    sev = max(inc.severities, key=SEVERITIES.index)
    return {
        "incident_id": inc.incident_id,
        "timestamp": _iso(inc.opened),
        "severity": sev,
        "service": inc.service,
        "actions_taken": actions,
        "resolution_time": None if not inc.resolve else max(inc.resolve[1] - inc.opened, 0.0),
        "owner": TEAMS[inc.team],
        "team": inc.team,
        "status": status,
        "level": {"CRITICAL": "P0", "MAJOR": "P1", "MODERATE": "P2", "NONE": "P3"}[inc.severities[-1]],
        "rules_hash": inc.rules_hashes[0],
        "pages": len(sent),
        "escalations": len({step for step, _ in sent if step > 0}),
        "acknowledged_by": inc.ack[0] if inc.ack else None,
        "acknowledged_at": _iso(inc.ack[1]) if inc.ack else None,
        "resolved_by": inc.resolve[0] if inc.resolve else None,
        "resolved_at": _iso(inc.resolve[1]) if inc.resolve else None,
        "remediation_outcome": (inc.remediations[-1][1] or "pending") if inc.remediations else None,
        "suppressed_events": inc.suppressed,
        "events": len(inc.severities),
    }
