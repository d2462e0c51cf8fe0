"""Prometheus metrics and health state of the daemon, served by :mod:`engine.run.daemon.http`.

One :class:`Metrics` per daemon, on its own ``CollectorRegistry`` (tests build several). The
engine thread updates it; HTTP threads only read it (``/metrics``, ``/healthz``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass
class Health:
    """What ``/healthz`` reports: the loop's last heartbeat and whether the db took a write lock."""

    stale_after: float = 30.0
    started: float = field(default_factory=time.monotonic)
    heartbeat: float = field(default_factory=time.monotonic)
    db_writable: bool = True
    db_error: str = ""
    spool_error: str = ""  # the last failed spool operation, until a turn of the loop succeeds
    rules_hash: str = ""
    reload_error: str = ""
    circuits: dict[str, str] = field(default_factory=dict)  # adapter -> open | half-open (closed ones omitted)
    wal_error: str = ""  # the audit log's WAL cannot be checkpointed (see engine/run/daemon/health.py)
    intake_error: str = ""  # the HTTP intake could not write a body into the spool (it answered 503) ...
    intake_error_at: float = 0.0  # ... at this time: reported until a write succeeds, or for intake_hold s
    intake_hold: float = 30.0
    # adapter the policy uses → why it cannot send (a missing variable): its requests end not-configured
    unconfigured: dict[str, str] = field(default_factory=dict)
    # the latest pages every channel failed for ("<incident> step <n>: pagerduty: …; opsgenie: …"), at most 20
    undelivered: list[str] = field(default_factory=list)

    def intake_failed(self, error: str) -> None:
        self.intake_error, self.intake_error_at = error, time.monotonic()

    def beat(self) -> None:
        self.heartbeat = time.monotonic()

    def report(self) -> tuple[bool, dict[str, Any]]:
        age = time.monotonic() - self.heartbeat
        alive = age < self.stale_after
        intake = self.intake_error if time.monotonic() - self.intake_error_at < self.intake_hold else ""
        ok = alive and self.db_writable and not self.spool_error and not self.wal_error and not intake
        status = "unhealthy" if not ok else "degraded" if self.unconfigured or self.undelivered else "ok"
        body = {"status": status, "loop_alive": alive, "unconfigured_adapters": dict(self.unconfigured),
                "undelivered_pages": list(self.undelivered),
                "seconds_since_loop": round(age, 3), "db_writable": self.db_writable, "db_error": self.db_error,
                "spool_error": self.spool_error, "wal_error": self.wal_error,
                "intake_error": intake,
                "rules_hash": self.rules_hash, "last_reload_error": self.reload_error,
                "circuits": dict(self.circuits),
                "uptime_seconds": round(time.monotonic() - self.started, 1)}
        return ok, body


class Metrics:
    def __init__(self, queue_depth: Callable[[], float] | None = None,
                 held: Callable[[], dict[str, float]] | None = None) -> None:
        """``held``: sizes of what the decision state keeps in memory (see :meth:`Daemon.held`)."""
        self.registry = r = CollectorRegistry()
        self.events = Counter("escalation_events_total", "Event files by outcome", ["outcome"], registry=r)
        self.failures = Counter("escalation_intake_failures_total", "Failed files by reason code", ["code"],
                                registry=r)
        self.duplicates = Counter("escalation_intake_duplicates_total", "Events taken in again and not re-decided "
                                  "(a redelivery, a routine re-send)", registry=r)
        self.refused = Counter("escalation_intake_refused_total", "HTTP requests refused before the spool, by "
                               "status", ["status"], registry=r)
        self.decisions = Counter("escalation_decisions_total", "Decisions by severity", ["severity"], registry=r)
        self.actions = Counter("escalation_actions_total", "Action results by action and outcome",
                               ["action", "outcome"], registry=r)
        self.decision_latency = Histogram("escalation_decision_seconds", "Time to decide and commit one file",
                                          buckets=LATENCY_BUCKETS, registry=r)
        self.arrival_latency = Histogram("escalation_arrival_to_commit_seconds",
                                         "From the file's rename into incoming/ to its committed decision",
                                         buckets=LATENCY_BUCKETS, registry=r)
        self.undelivered = Counter("escalation_pages_undelivered_total",
                                   "Pages every channel (the pager and its level's fallback) failed for", registry=r)
        self.reloads = Counter("escalation_rules_reloads_total", "Rule reloads by outcome", ["outcome"], registry=r)
        self.clock_skew = Counter("escalation_clock_skew_total", "Events and acks stamped further ahead of intake "
                                  "than --max-clock-skew (decided at intake time)", registry=r)
        self.queue = Gauge("escalation_queue_depth", "Files waiting in incoming/", registry=r)
        self.promoted = Counter("escalation_intake_promoted_total", "Files decided ahead of a backlog (an urgent "
                                "one, or an earlier file of its service): engine/run/daemon/triage.py", registry=r)
        self.http = Counter("escalation_http_requests_total", "HTTP intake requests by status", ["status"],
                            registry=r)
        if queue_depth is not None:
            self.queue.set_function(queue_depth)
        # In-memory decision state, so its growth is visible: open incidents stay until resolved or repeated
        # after the dedup window (a fingerprint that never comes back keeps its incident open)
        self.open_incidents = Gauge("escalation_open_incidents", "Open incidents held by noise suppression",
                                    registry=r)
        self.history_services = Gauge("escalation_history_services", "Services whose history.* windows are held "
                                      "in memory", registry=r)
        self.outbox_due = Gauge("escalation_outbox_due", "Due outbox rows without a result, per adapter",
                                ["action"], registry=r)
        self.outbox_in_flight = Gauge("escalation_outbox_in_flight", "Sends in flight, per adapter", ["action"],
                                      registry=r)
        self.outbox_oldest = Gauge("escalation_outbox_oldest_due_seconds", "Age of the oldest due row without a "
                                   "result, per adapter", ["action"], registry=r)
        self.outbox_circuit = Gauge("escalation_outbox_circuit", "Circuit per adapter: 0 closed, 1 half-open, "
                                    "2 open", ["action"], registry=r)
        self._outbox_seen: set[str] = set()
        if held is not None:
            self.open_incidents.set_function(lambda: held()["open_incidents"])
            self.history_services.set_function(lambda: held()["history_services"])

    def observe_outbox(self, due: dict[str, tuple[int, str]], in_flight: dict[str, int],
                       circuits: dict[str, str]) -> None:
        """Snapshot of the outbox per adapter (the engine thread calls this about once a second)."""
        now = datetime.now(UTC)
        for name in set(self._outbox_seen) | set(due) | set(in_flight):
            n, oldest = due.get(name, (0, ""))
            self.outbox_due.labels(name).set(n)
            self.outbox_in_flight.labels(name).set(in_flight.get(name, 0))
            age = (now - datetime.fromisoformat(oldest)).total_seconds() if oldest else 0.0
            self.outbox_oldest.labels(name).set(max(0.0, age))
            self.outbox_circuit.labels(name).set({"open": 2, "half-open": 1}.get(circuits.get(name, ""), 0))
        self._outbox_seen |= set(due) | set(in_flight)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def health_json(health: Health) -> tuple[int, bytes]:
    ok, body = health.report()
    return (200 if ok else 503), (json.dumps(body) + "\n").encode()
