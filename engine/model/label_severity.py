"""What the monitor itself says about an event's severity, from the labels monitors conventionally
send: ``derived.label_severity`` — 3 critical, 2 major, 1 warning, 0 informational; absent when no
label says anything. Rules compare it as a number (``rules/severity.yaml``, ``label-severity-*``).

Read, case-insensitively, and the highest wins:

* ``labels.severity`` — Alertmanager's and Grafana's convention, PagerDuty's vocabulary (Datadog's
  monitor priority arrives as ``severity`` too: P1 critical, P2 error, P3 warning, P4/P5 info);
* ``labels.priority`` — ``P1``…``P5`` (Opsgenie, Datadog, Grafana OnCall) or a word;
* a CloudWatch alarm's name prefix (``critical-…``, ``P2 …``, ``SEV3:…``): an alarm carries no severity
  of its own, so the name is the convention; only for ``source: cloudwatch``.

A vocabulary in code, not regexes in the ruleset: it reads several labels and the source at once,
and the rules compare one number.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_WORDS = {
    3: ("critical", "crit", "page", "emergency", "emerg", "fatal", "disaster", "sev1", "sev-1", "p1", "p0"),
    2: ("error", "err", "high", "major", "sev2", "sev-2", "p2"),
    1: ("warning", "warn", "medium", "minor", "average", "moderate", "sev3", "sev-3", "p3"),
    0: ("info", "informational", "information", "low", "none", "ok", "debug", "notice", "sev4", "sev5", "p4", "p5"),
}
SEVERITY: dict[str, int] = {word: rank for rank, words in _WORDS.items() for word in words}
PRIORITY: dict[str, int] = {"p0": 3, "p1": 3, "1": 3, "critical": 3, "p2": 2, "2": 2, "high": 2, "p3": 1, "3": 1,
                            "medium": 1, "p4": 0, "p5": 0, "4": 0, "5": 0, "low": 0}
_PREFIX = re.compile(r"([A-Za-z0-9]+(?:-[0-9])?)[-_ :.]")  # "critical-", "P2 ", "SEV3:", "sev-1_"
_ALARM_WORDS = {k: v for k, v in SEVERITY.items() if v > 0 and k not in ("page", "err", "average", "none")}


def label_severity(labels: Mapping[str, str], source: str = "", title: str = "") -> float | None:
    """The rank the event's own labels give (see the module docstring), or None."""
    found = [SEVERITY.get(labels.get("severity", "").strip().lower()),
             PRIORITY.get(labels.get("priority", "").strip().lower())]
    if source == "cloudwatch" and (match := _PREFIX.match(title)):
        found.append(_ALARM_WORDS.get(match.group(1).lower()))
    ranks = [r for r in found if r is not None]
    return float(max(ranks)) if ranks else None
