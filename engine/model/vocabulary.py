"""The names shared by the event model and the rule files: severities, standard metrics and conditions.

Plain constants (no pydantic), so that loading and validating rules need not build the event
model; :mod:`engine.event` re-exports them.
"""

from __future__ import annotations

STANDARD_METRICS = (
    "availability",
    "error_rate",
    "latency_p99_ms",
    "cpu_utilization",
    "memory_utilization",
    "request_rate",
    "baseline_request_rate",
    "healthy_hosts",
    "total_hosts",
)
STANDARD_CONDITIONS = (
    "service_unavailable",
    "data_loss_risk",
    "security_breach",
    "crash_loop",
    "load_driven",
    "partial_outage",
)
SEVERITIES = ("NONE", "MODERATE", "MAJOR", "CRITICAL")  # ascending; index = rank
