"""Generated audit logs with known answers: each incident's true times are kept beside its rows."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from engine.store.audit import Audit

DAY = 86400.0
RULES_HASH = "ab" * 32


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Truth:
    """What really happened to one incident (the test computes every figure from these)."""

    incident_id: str
    service: str
    team: str
    severity: str
    start: float
    decided: float
    page: float | None = None
    ack: float | None = None
    resolve: float | None = None
    resolved_by: str | None = None
    escalated: float | None = None
    targets: tuple[str, ...] = ()
    rule: str = "severity:error-rate-high"
    fingerprint: str = "fp"
    decided_severity: str = ""
    confirmed: str | None = None
    remediation: tuple[str, str] | None = None  # (action, outcome)


@dataclass
class History:
    path: Path
    truths: list[Truth] = field(default_factory=list)


class Writer:
    """Writes incidents as the engine would: decisions, events, firings, pages, results, acks, closes."""

    def __init__(self, path: Path) -> None:
        self.audit = Audit(path)  # its migrations create every table, the suppression ones and the views
        self.conn = self.audit.conn
        self.history = History(path)
        self.n = 0

    def add(self, t: Truth) -> Truth:
        c, h = self.conn, RULES_HASH
        sev = t.decided_severity or t.severity
        owner = json.dumps({"team": t.team, "primary": list(t.targets[:1]), "backup": list(t.targets[1:2])})
        eid = t.incident_id
        c.execute("INSERT INTO events (event_id, at, timestamp, source, service, status, payload, rules_hash) "
                  "VALUES (?, ?, ?, 'test', ?, 'firing', ?, ?)",
                  (eid, iso(t.decided), iso(t.start), t.service, json.dumps({"fingerprint": t.fingerprint}), h))
        c.execute("INSERT INTO decisions (event_id, incident_id, service, severity, owner, at, rules_hash, "
                  "event_epoch) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (eid, eid, t.service, sev, owner, iso(t.decided),
                                                                  h, t.start))
        c.execute("INSERT INTO firings (event_id, seq, rule, stage, selected, at, rules_hash) "
                  "VALUES (?, 1, ?, 'severity', 1, ?, ?)", (eid, t.rule, iso(t.decided), h))
        if t.page is not None:
            self._page(t, 0, t.page, t.targets[:1])
            self._page(t, 0, t.page + 1, t.targets[:1], action="slack")  # a second channel: one interruption
        if t.escalated is not None:
            self._page(t, 1, t.escalated, t.targets[1:2])
        if t.page is None and t.severity != "NONE":  # a page that failed: never counts as sent
            self._page(t, 0, t.decided + 1, t.targets[:1], outcome="failed")
        if t.ack is not None:
            self._update(t, "ack", t.ack)
        if t.resolve is not None:
            if t.resolved_by == "auto":
                c.execute("INSERT INTO incidents (incident_id, op, event_id, at, severity, reason, state, rules_hash)"
                          " VALUES (?, 'close', ?, ?, ?, 'resolved', '{}', ?)",
                          (eid, eid + ":r", iso(t.resolve), t.severity, h))
            else:
                self._update(t, "resolve", t.resolve)
        if t.confirmed is not None:
            c.execute("INSERT INTO severity_feedback (event_id, incident_id, severity, previous, by, at) "
                      "VALUES (?, ?, 'NONE', ?, 'test', ?)", (eid, eid, sev, iso(t.decided)))  # superseded below
            c.execute("INSERT INTO severity_feedback (event_id, incident_id, severity, previous, by, at) "
                      "VALUES (?, ?, ?, ?, 'test', ?)", (eid, eid, t.confirmed, sev, iso(t.decided)))
        if t.remediation is not None:
            aid = self._action(t, "remediate", 0, t.remediation[0], ())
            c.execute("INSERT INTO results (action_id, outcome, detail, at, rules_hash) VALUES (?, ?, '', ?, ?)",
                      (aid, t.remediation[1], iso(t.decided + 2), h))
        self.history.truths.append(t)
        return t

    def _action(self, t: Truth, kind: str, step: int, action: str, targets: tuple[str, ...]) -> int:
        self.n += 1
        intent = json.dumps({"targets": list(targets), "step": step})
        cur = self.conn.execute(
            "INSERT INTO actions (idempotency_key, event_id, incident_id, action, kind, step, due_at, intent, at, "
            "rules_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (f"k{self.n}", t.incident_id, t.incident_id, action, kind, step, iso(t.decided), intent, iso(t.decided),
             RULES_HASH))
        return int(cur.lastrowid or 0)

    def _page(self, t: Truth, step: int, sent: float, targets: tuple[str, ...], action: str = "pagerduty",
              outcome: str = "ok") -> None:
        aid = self._action(t, "page", step, action, (*targets, "S0CHANNEL"))
        self.conn.execute("INSERT INTO results (action_id, outcome, detail, at, rules_hash) VALUES (?, ?, '', ?, ?)",
                          (aid, outcome, iso(sent), RULES_HASH))

    def _update(self, t: Truth, kind: str, when: float) -> None:
        self.n += 1
        self.conn.execute("INSERT INTO incident_updates (event_id, incident_id, type, by, source, occurred_at, at, "
                          "rules_hash) VALUES (?, ?, ?, 'alice@x', 'test', ?, ?, ?)",
                          (f"u{self.n}", t.incident_id, kind, datetime.fromtimestamp(when, UTC).isoformat(),
                           iso(when), RULES_HASH))

    def close(self) -> History:
        self.audit.close()
        return self.history


SERVICES = {"payment-api": "backend", "user-service": "backend", "auth-service": "frontend"}
SEVERITIES = ("CRITICAL", "MAJOR", "MODERATE", "NONE")


def random_history(path: Path, n: int, start: float, seed: int = 7, days: float = 14) -> History:
    """``n`` incidents over ``days`` days with random MTTD, pages, acks (some never), resolves, escalations."""
    rng = random.Random(seed)
    w = Writer(path)
    for k in range(n):
        service = rng.choice(sorted(SERVICES))
        severity = rng.choice(SEVERITIES)
        t0 = start + rng.uniform(0, days * DAY)
        decided = t0 + rng.uniform(0.05, 12)
        t = Truth(f"INC-{k:05d}", service, SERVICES[service], severity, t0, decided,
                  targets=(rng.choice(["alice@x", "bob@x"]), "carol@x"),
                  fingerprint=rng.choice(["fp-a", "fp-b"]))
        if severity != "NONE" and rng.random() > 0.1:
            t.page = decided + rng.uniform(0.1, 3)
            roll = rng.random()
            if roll < 0.7:
                t.ack = t.page + rng.expovariate(1 / 200)
            if roll > 0.1:
                t.resolve = (t.ack or t.page) + rng.expovariate(1 / 900)
                t.resolved_by = rng.choice(["human", "auto"])
            if t.ack is None or t.ack - t.page > 300:
                t.escalated = t.page + 300
                if t.resolve is not None and t.resolve < t.escalated:
                    t.escalated = None
        if rng.random() < 0.4:
            t.confirmed = rng.choice(SEVERITIES)
        if severity in ("CRITICAL", "MAJOR") and rng.random() < 0.5:
            t.remediation = (rng.choice(["restart", "scale-out"]), rng.choice(["ok", "ok", "failed"]))
        w.add(t)
    return w.close()


def poisson_rows(service: str, rates: list[float], until: float, rng: random.Random, fingerprint: str = "fp",
                 severity: str = "MAJOR") -> list[dict]:
    """Incident rows of one service: day k of len(rates) (the last ends at ``until``) has Poisson(rates[k])."""
    rows = []
    n = len(rates)
    for k, rate in enumerate(rates):
        day_start = until - (n - k) * DAY
        count, acc = 0, rng.expovariate(1.0) if rate > 0 else float("inf")
        while acc < rate:  # Poisson(rate) by exponential gaps on [0, rate)
            count += 1
            acc += rng.expovariate(1.0)
        for _ in range(count):
            rows.append({"service": service, "severity": severity, "start_epoch": day_start + rng.uniform(0, DAY),
                         "rule": "severity:r", "fingerprint": fingerprint})
    return rows
