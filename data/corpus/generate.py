"""Generate the labelled severity corpus: canonical events (JSONL) with a label each.

Each line is ``{"event": {...canonical Event...}, "label": "MAJOR"}``. The generator is fully
determined by its seed: ``python data/corpus/generate.py`` rewrites ``train.jsonl`` (seed 1,
4,000 events) and ``eval.jsonl`` (seed 2, 1,500 events) byte for byte.

Label rules
-----------
The label is computed by :func:`label_for` from the *finished* event, never taken from the
scenario that produced it, so a title that says "SEV1 outage" over healthy metrics is labelled
by its metrics. The first matching level wins:

CRITICAL  ``conditions.service_unavailable`` / ``data_loss_risk`` / ``security_breach``;
          ``availability < 0.5``; ``healthy_hosts / total_hosts < 0.5``; or a log line at level
          ``critical``/``fatal`` whose message contains one of :data:`CRITICAL_LOG_PHRASES`
          (a breach or data-loss report the monitor did not turn into a condition).
MAJOR     ``error_rate >= 0.05``; ``latency_p99_ms >= 1000``; ``availability < 0.99``;
          ``conditions.partial_outage`` or ``crash_loop``.
MODERATE  ``error_rate >= 0.01``; ``latency_p99_ms >= 500``; ``cpu_utilization >= 0.85``;
          ``memory_utilization >= 0.85``; ``derived.log_errors >= 50``.
NONE      everything else: heartbeats, deploy notices, handled load spikes
          (``load_driven`` with healthy metrics), resolved notices, test alerts, info logs.

A missing metric never matches.

Labels are noisy the way human ones are: a record's label is :func:`label_for` applied to
its metrics each multiplied by a seeded log-normal factor (sd 2 %, :func:`responder_label`;
for availability the factor applies to ``1 - availability``; host counts are exact),
as if the responder read the dashboard a moment later. Far from a threshold this changes
nothing; within a few percent of one the label can land on either side (about 1–2 % of
records), so no classifier, and no exact-threshold rule, scores 100 % on this corpus.

Scenario families aim at one class each; a fifth to a quarter of their key draws land within
8 % of a threshold, on either side. Monitors report different metric subsets (and drop
some); about one title in twelve is taken from another class's wording, so text alone is
not enough.
"""

from __future__ import annotations

import argparse
import json
import math
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from engine.model.event import Event, derive

HERE = Path(__file__).resolve().parent
CRITICAL_LOG_PHRASES = (
    "unauthorized access",
    "credential leak",
    "data exfiltration",
    "data corruption detected",
    "replication broken",
    "writes are being lost",
    "privilege escalation",
)
SERVICES = (
    "payment-api",
    "checkout",
    "auth-service",
    "user-service",
    "search",
    "inventory",
    "orders-db",
    "billing-worker",
    "notifications",
    "gateway",
    "ledger",
    "media-cdn",
)
SOURCES = {  # monitor -> metrics it reports
    "prometheus": (
        "error_rate",
        "latency_p99_ms",
        "cpu_utilization",
        "memory_utilization",
        "request_rate",
        "baseline_request_rate",
        "healthy_hosts",
        "total_hosts",
    ),
    "datadog": (
        "error_rate",
        "latency_p99_ms",
        "cpu_utilization",
        "memory_utilization",
        "request_rate",
        "baseline_request_rate",
    ),
    "cloudwatch": ("cpu_utilization", "healthy_hosts", "total_hosts", "request_rate", "latency_p99_ms"),
    "pingdom": ("availability", "latency_p99_ms"),
    "newrelic": ("availability", "error_rate", "latency_p99_ms", "request_rate", "baseline_request_rate"),
}
TITLE_STYLE = {
    "prometheus": "[FIRING:1] {t} ({svc} production)",
    "datadog": "[Triggered] {t} on {svc}",
    "cloudwatch": 'ALARM: "{svc}-{t}" in {region}',
    "pingdom": "{svc}: {t}",
    "newrelic": "Incident opened: {t} - {svc}",
}
REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2", "us-west-2")
TEAMS = ("payments", "platform", "identity", "growth", "data")


def _r(x: float) -> float:
    return float(f"{x:.4g}")


class Draw:
    """Random helpers bound to one ``random.Random``."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def near(self, threshold: float, below: bool) -> float:
        """A value within 8 % of ``threshold``, on the requested side."""
        f = self.rng.uniform(0.002, 0.08)
        return threshold * (1 - f) if below else threshold * (1 + f)

    def pick(self, options: tuple[str, ...] | list[str]) -> str:
        return self.rng.choice(options)


def baseline(d: Draw, source: str) -> dict[str, float]:
    """Healthy metrics for the monitor's metric subset."""
    rng = d.rng
    base_rr = rng.uniform(20, 5000)
    total = rng.randint(3, 40)
    values = {
        "availability": rng.uniform(0.9992, 1.0),
        "error_rate": rng.uniform(0, 0.006) if rng.random() < 0.8 else rng.uniform(0.006, 0.0099),
        "latency_p99_ms": rng.uniform(40, 380) if rng.random() < 0.8 else rng.uniform(380, 499),
        "cpu_utilization": rng.uniform(0.05, 0.75),
        "memory_utilization": rng.uniform(0.15, 0.8),
        "request_rate": base_rr * rng.uniform(0.7, 1.3),
        "baseline_request_rate": base_rr,
        "healthy_hosts": float(total - (rng.random() < 0.2 and total >= 5)),
        "total_hosts": float(total),
    }
    keep = [k for k in SOURCES[source] if rng.random() > 0.15 or k in ("total_hosts", "healthy_hosts")]
    return {k: values[k] for k in keep}


def quiet_logs(d: Draw) -> list[dict[str, Any]]:
    rng = d.rng
    pool = [
        ("info", "request served in {n}ms"),
        ("info", "health check passed"),
        ("info", "config reloaded"),
        ("warning", "slow query took {n}ms"),
        ("warning", "retrying upstream call (attempt 2)"),
        ("error", "upstream returned 503"),
        ("info", "security scan finished: no unauthorized access detected"),
        ("debug", "cache hit ratio {pct}%"),
    ]
    out = []
    for level, msg in rng.sample(pool, rng.randint(0, 3)):
        count = rng.randint(1, 12) if level in ("error", "warning") else rng.randint(1, 400)
        out.append(
            {
                "level": level,
                "message": msg.format(n=rng.randint(5, 900), pct=rng.randint(40, 99)),
                "count": count,
            }
        )
    return out


def traces(d: Draw, error_ratio: float, slow_ratio: float) -> dict[str, int]:
    total = d.rng.randint(200, 6000)
    err = min(total, int(total * max(0.0, error_ratio * d.rng.uniform(0.6, 1.4))))
    slow = min(total, int(total * max(0.0, slow_ratio * d.rng.uniform(0.6, 1.4))))
    return {"error_spans": err, "slow_spans": slow, "total_spans": total}


# --- scenario families: each fills an event skeleton and returns (title, description) ---------

Family = Callable[[Draw, dict[str, Any]], tuple[str, str]]


def f_heartbeat(d: Draw, ev: dict[str, Any]) -> tuple[str, str]:
    t = d.pick(("Health check OK", "Synthetic probe recovered", "Daily SLO report", "Heartbeat"))
    return t, d.pick(
        (
            "All probes green for the last 15m.",
            "No action needed; informational.",
            "SLO burn rate within budget.",
        )
    )


def f_deploy(d: Draw, ev: dict[str, Any]) -> tuple[str, str]:
    v = f"v{d.rng.randint(1, 9)}.{d.rng.randint(0, 40)}.{d.rng.randint(0, 9)}"
    ev["logs"].append({"level": "info", "message": f"rollout of {v} complete", "count": 1})
    if "cpu_utilization" in ev["metrics"]:
        ev["metrics"]["cpu_utilization"] = d.rng.uniform(0.4, 0.8)
    return (
        d.pick(("Deployment finished", f"Deployed {v}", "Canary promoted", "Config change applied")),
        d.pick(
            (
                f"Release {v} rolled out to all hosts.",
                "Canary metrics nominal; promoting.",
                f"Change ticket CHG-{d.rng.randint(1000, 9999)} closed.",
            )
        ),
    )


def f_load_handled(d: Draw, ev: dict[str, Any]) -> tuple[str, str]:
    m, rng = ev["metrics"], d.rng
    m.setdefault("baseline_request_rate", rng.uniform(50, 3000))
    m["request_rate"] = m["baseline_request_rate"] * rng.uniform(1.8, 9)
    if "cpu_utilization" in m:
        m["cpu_utilization"] = rng.uniform(0.55, 0.84)
    ev["conditions"]["load_driven"] = True
    return (
        d.pick(("Traffic spike", "Request rate anomaly", "High request volume", "Load spike absorbed")),
        d.pick(
            (
                "Autoscaling added capacity; latency and errors nominal.",
                "Marketing campaign traffic, handled by the pool.",
                "Request rate {:.0f}x baseline, no user impact.".format(
                    m["request_rate"] / m["baseline_request_rate"]
                ),
            )
        ),
    )


def f_resolved(d: Draw, ev: dict[str, Any]) -> tuple[str, str]:
    ev["status"] = "resolved"
    return (
        "RESOLVED: " + d.pick(("High error rate", "Latency SLO burn", "Service down", "Pods crash looping")),
        d.pick(("Metrics back to normal.", "Recovered after failover.", "Auto-resolved after 12m.")),
    )


def f_test_alert(d: Draw, ev: dict[str, Any]) -> tuple[str, str]:
    return (
        "[TEST] " + d.pick(("CRITICAL: service down", "SEV1 outage drill", "Paging test, ignore")),
        d.pick(("Synthetic alert from the game day, no impact.", "Testing PagerDuty routing.")),
    )


def f_errors(d: Draw, ev: dict[str, Any], lo: float, hi: float, edge: float) -> tuple[str, str]:
    m, rng = ev["metrics"], d.rng
    m["error_rate"] = d.near(edge, below=rng.random() < 0.5) if rng.random() < 0.2 else rng.uniform(lo, hi)
    if "availability" in m:
        m["availability"] = max(0.99, 1 - m["error_rate"] * rng.uniform(0.0, 0.15))
    ev["traces"] = traces(d, m["error_rate"], 0.02)
    ev["logs"].append(
        {
            "level": "error",
            "message": d.pick(
                (
                    "HTTP 500 from handler",
                    "upstream connect error",
                    "timeout calling db-primary",
                    "NullPointerException in OrderController",
                )
            ),
            "count": rng.randint(5, 45),
        }
    )
    return (
        d.pick(("High error rate", "5xx ratio above SLO", "Error budget burn", "HighErrorRate")),
        "Error rate {:.1%} over the last 10m.".format(m["error_rate"]),
    )


def f_latency(d: Draw, ev: dict[str, Any], lo: float, hi: float, edge: float) -> tuple[str, str]:
    m, rng = ev["metrics"], d.rng
    m["latency_p99_ms"] = (
        d.near(edge, below=rng.random() < 0.5) if rng.random() < 0.2 else rng.uniform(lo, hi)
    )
    ev["traces"] = traces(d, 0.005, min(0.9, m["latency_p99_ms"] / 5000))
    return (
        d.pick(("p99 latency high", "Slow responses", "Latency SLO at risk", "HighLatency")),
        "p99 latency {:.0f} ms (target 300 ms).".format(m["latency_p99_ms"]),
    )


def f_resource(d: Draw, ev: dict[str, Any]) -> tuple[str, str]:
    m, rng = ev["metrics"], d.rng
    key = d.pick(("cpu_utilization", "memory_utilization"))
    m[key] = d.near(0.85, below=rng.random() < 0.5) if rng.random() < 0.25 else rng.uniform(0.85, 0.99)
    word = "CPU" if key.startswith("cpu") else "Memory"
    return (
        f"{word} " + d.pick(("usage high", "saturation", "above 85%", "pressure")),
        f"{word} at {m[key]:.0%} on the pool for 15m.",
    )


def f_log_errors(d: Draw, ev: dict[str, Any]) -> tuple[str, str]:
    n = int(d.near(50, below=d.rng.random() < 0.5)) if d.rng.random() < 0.25 else d.rng.randint(50, 600)
    ev["logs"].append(
        {
            "level": "error",
            "message": d.pick(
                ("failed to publish message to queue", "retry budget exhausted", "deadline exceeded")
            ),
            "count": n,
        }
    )
    return (
        d.pick(("Error log volume elevated", "Log anomaly", "Spike in ERROR logs")),
        f"{n} error lines in the last 5 minutes.",
    )


def f_availability(d: Draw, ev: dict[str, Any], lo: float, hi: float, edge: float) -> tuple[str, str]:
    m, rng = ev["metrics"], d.rng
    m["availability"] = d.near(edge, below=rng.random() < 0.5) if rng.random() < 0.2 else rng.uniform(lo, hi)
    return (
        d.pick(("Availability below SLO", "Probe failures", "Uptime check failing", "Site degraded")),
        "Availability {:.1%} across 6 probe locations.".format(m["availability"]),
    )


def f_hosts(d: Draw, ev: dict[str, Any], lo: float, hi: float) -> tuple[str, str]:
    m, rng = ev["metrics"], d.rng
    total = rng.randint(4, 40)
    m["total_hosts"], m["healthy_hosts"] = float(total), float(max(0, round(total * rng.uniform(lo, hi))))
    if rng.random() < 0.5:
        ev["conditions"]["partial_outage"] = m["healthy_hosts"] / total >= 0.5
    return (
        d.pick(("Unhealthy hosts in target group", "Hosts failing health checks", "Capacity loss")),
        f"{m['healthy_hosts']:.0f}/{total} hosts healthy.",
    )


def f_crash_loop(d: Draw, ev: dict[str, Any]) -> tuple[str, str]:
    ev["conditions"]["crash_loop"] = True
    ev["logs"].append(
        {
            "level": "fatal",
            "message": d.pick(
                ("OOMKilled", "Back-off restarting failed container", "panic: nil map assignment")
            ),
            "count": d.rng.randint(3, 40),
        }
    )
    return (
        d.pick(("KubePodCrashLooping", "Pods restarting", "CrashLoopBackOff")),
        f"Container restarted {d.rng.randint(3, 30)} times in 10m.",
    )


def f_unhandled_load(d: Draw, ev: dict[str, Any]) -> tuple[str, str]:
    title, _ = f_load_handled(d, ev)
    ev["metrics"]["latency_p99_ms"] = d.rng.uniform(1000, 6000)
    return title, "Request rate far above baseline and p99 latency {:.0f} ms.".format(
        ev["metrics"]["latency_p99_ms"]
    )


def f_outage(d: Draw, ev: dict[str, Any]) -> tuple[str, str]:
    rng = d.rng
    if rng.random() < 0.7:
        ev["metrics"]["availability"] = (
            d.near(0.5, below=True) if rng.random() < 0.2 else rng.uniform(0, 0.49)
        )
    if rng.random() < 0.6 or "availability" not in ev["metrics"]:
        ev["conditions"]["service_unavailable"] = True
    ev["logs"].append(
        {"level": "critical", "message": "all upstreams unreachable", "count": rng.randint(20, 900)}
    )
    return (
        d.pick(("Service down", "Endpoint unreachable", "Total outage", "HTTP probe failing")),
        d.pick(
            (
                "Customers cannot complete checkout.",
                "All probes failing for 5m.",
                "Load balancer returning 503 for every request.",
            )
        ),
    )


def f_data_loss(d: Draw, ev: dict[str, Any]) -> tuple[str, str]:
    if d.rng.random() < 0.65:
        ev["conditions"]["data_loss_risk"] = True
        msg = d.pick(("WAL archiving failing", "disk 98% full on primary", "backup job failed 3 times"))
    else:
        msg = d.pick(
            (
                "replication broken: replica diverged",
                "data corruption detected in shard 7",
                "writes are being lost after failover",
            )
        )
    ev["logs"].append({"level": d.pick(("critical", "fatal")), "message": msg, "count": d.rng.randint(1, 30)})
    return (
        d.pick(("Replication lag", "Storage issue on primary", "Backup failure", "Database alert")),
        f"{msg}.",
    )


def f_breach(d: Draw, ev: dict[str, Any]) -> tuple[str, str]:
    if d.rng.random() < 0.6:
        ev["conditions"]["security_breach"] = True
        msg = d.pick(("WAF blocked sql injection burst", "suspicious admin login from new country"))
    else:
        msg = d.pick(
            (
                "unauthorized access to customer records",
                "credential leak: API keys in public repo",
                "data exfiltration to unknown host",
                "privilege escalation via service account",
            )
        )
    ev["logs"].append({"level": "critical", "message": msg, "count": d.rng.randint(1, 10)})
    return (d.pick(("Security alert", "Unusual auth activity", "GuardDuty finding", "IDS alert")), f"{msg}.")


FAMILIES: dict[str, list[tuple[float, Family]]] = {
    "NONE": [
        (3, f_heartbeat),
        (2, f_deploy),
        (3, f_load_handled),
        (1.5, f_resolved),
        (1, f_test_alert),
        (1.5, lambda d, e: f_errors(d, e, 0.0, 0.0099, 0.01)),
        (1.5, lambda d, e: f_latency(d, e, 100, 499, 500)),
    ],
    "MODERATE": [
        (3, lambda d, e: f_errors(d, e, 0.01, 0.0499, 0.01)),
        (3, lambda d, e: f_latency(d, e, 500, 999, 500)),
        (3, f_resource),
        (2, f_log_errors),
        (1, lambda d, e: f_availability(d, e, 0.9, 0.99, 0.99)),
    ],
    "MAJOR": [
        (3, lambda d, e: f_errors(d, e, 0.05, 0.4, 0.05)),
        (3, lambda d, e: f_latency(d, e, 1000, 8000, 1000)),
        (2, lambda d, e: f_availability(d, e, 0.55, 0.989, 0.99)),
        (2, lambda d, e: f_hosts(d, e, 0.5, 0.85)),
        (2, f_crash_loop),
        (1, f_unhandled_load),
    ],
    "CRITICAL": [
        (3, f_outage),
        (2, f_data_loss),
        (2, f_breach),
        (1.5, lambda d, e: f_hosts(d, e, 0.0, 0.49)),
    ],
}
LABEL_JITTER = 0.02  # sd of the log-normal factor in responder_label
CLASS_WEIGHTS = {"NONE": 0.34, "MODERATE": 0.24, "MAJOR": 0.23, "CRITICAL": 0.19}


def label_for(event: Event) -> str:
    """The corpus label of a finished event (see the module docstring)."""
    m, c, dv = event.metrics, event.conditions, derive(event)
    critical_log = any(
        line.level in ("critical", "fatal") and any(p in line.message.lower() for p in CRITICAL_LOG_PHRASES)
        for line in event.logs
    )
    if (
        c.get("service_unavailable")
        or c.get("data_loss_risk")
        or c.get("security_breach")
        or critical_log
        or m.get("availability", 1.0) < 0.5
        or dv.get("healthy_host_ratio", 1.0) < 0.5
    ):
        return "CRITICAL"
    if (
        m.get("error_rate", 0.0) >= 0.05
        or m.get("latency_p99_ms", 0.0) >= 1000
        or m.get("availability", 1.0) < 0.99
        or c.get("partial_outage")
        or c.get("crash_loop")
    ):
        return "MAJOR"
    if (
        m.get("error_rate", 0.0) >= 0.01
        or m.get("latency_p99_ms", 0.0) >= 500
        or m.get("cpu_utilization", 0.0) >= 0.85
        or m.get("memory_utilization", 0.0) >= 0.85
        or dv["log_errors"] >= 50
    ):
        return "MODERATE"
    return "NONE"


def _weighted(rng: random.Random, options: list[tuple[float, Family]]) -> Family:
    return rng.choices([f for _, f in options], weights=[w for w, _ in options])[0]


def make_event(d: Draw, index: int, seed: int) -> dict[str, Any]:
    """One canonical event document (not yet labelled)."""
    rng = d.rng
    target = rng.choices(list(CLASS_WEIGHTS), weights=list(CLASS_WEIGHTS.values()))[0]
    source, svc, region = d.pick(list(SOURCES)), d.pick(SERVICES), d.pick(REGIONS)
    ev: dict[str, Any] = {
        "metrics": baseline(d, source),
        "logs": quiet_logs(d),
        "conditions": {},
        "traces": traces(d, 0.002, 0.01),
    }
    title, description = _weighted(rng, FAMILIES[target])(d, ev)
    lower = {"CRITICAL": "MAJOR", "MAJOR": "MODERATE"}.get(target)
    if lower and rng.random() < 0.5:  # a real outage rarely comes alone: lower-level symptoms too
        _weighted(rng, FAMILIES[lower])(d, ev)
    if rng.random() < 0.08:  # wording from another class: text and metrics disagree
        other = d.pick([k for k in FAMILIES if k != target])
        title, description = _weighted(rng, FAMILIES[other])(d, {"metrics": {}, "logs": [], "conditions": {}})
    when = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randint(0, 180 * 86400))
    doc: dict[str, Any] = {
        "event_id": f"{source}-{seed}-{index:05d}",
        "timestamp": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "source": source,
        "service": svc,
        "title": TITLE_STYLE[source].format(t=title, svc=svc, region=region),
        "description": description,
        "metrics": {k: _r(v) for k, v in ev["metrics"].items()},
        "logs": ev["logs"],
        "traces": ev["traces"],
        "conditions": ev["conditions"],
        "labels": {"team": d.pick(TEAMS), "region": region},
    }
    if ev.get("status") == "resolved":
        doc["status"] = "resolved"
    return doc


def responder_label(doc: dict[str, Any], rng: random.Random) -> str:
    """:func:`label_for` on the metrics as a responder read them (each off by ~2 %)."""
    seen = {}
    for k, v in doc["metrics"].items():
        factor = math.exp(rng.gauss(0, LABEL_JITTER))
        if k == "availability":  # misread the failure fraction, not the 0.999
            seen[k] = 1 - (1 - v) * factor
        else:
            seen[k] = v if k in ("healthy_hosts", "total_hosts") else v * factor
    return label_for(Event.model_validate({**doc, "metrics": seen}))


def generate(n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` labelled records ``{"event": ..., "label": ...}``, determined by ``seed``."""
    d, judge = Draw(random.Random(seed)), random.Random(seed + 10_000)
    records = []
    for i in range(n):
        doc = make_event(d, i, seed)
        Event.model_validate(doc)
        records.append({"event": doc, "label": responder_label(doc, judge)})
    return records


def write(path: Path, records: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for rec in records:
            fh.write(json.dumps(rec, separators=(",", ":"), sort_keys=True) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args()
    for name, n, seed in (("train.jsonl", 4000, 1), ("eval.jsonl", 1500, 2)):
        records = generate(n, seed)
        write(args.out / name, records)
        counts = {k: sum(r["label"] == k for r in records) for k in CLASS_WEIGHTS}
        print(f"wrote {args.out / name}: {n} events {counts}")


if __name__ == "__main__":
    main()
