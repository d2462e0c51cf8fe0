"""Alertmanager groups through the daemon: nothing offered is lost, every refusal leaves a trace."""

from __future__ import annotations

import json
import os
from pathlib import Path

from daemon_kit import drop


def alert(n: int, **labels: str) -> dict:
    return {"status": "firing", "labels": {"alertname": "Down", "service": "payment-api", "instance": f"h{n}",
                                           "severity": "critical", **labels},
            "annotations": {"summary": f"payment-api down on h{n}"}, "startsAt": "2025-01-01T11:59:00Z",
            "endsAt": "0001-01-01T00:00:00Z", "fingerprint": f"fp{n:05d}",
            "generatorURL": "http://prometheus:9090/graph?g0.expr=up%3D%3D0&g0.tab=1" + "x" * 400}


def group(alerts: list, **extra: object) -> str:
    return json.dumps({"version": "4", "groupKey": '{}:{service="payment-api"}', "status": "firing",
                       "receiver": "escalation", "groupLabels": {"service": "payment-api"}, "commonLabels": {},
                       "commonAnnotations": {}, "externalURL": "http://am:9093", "alerts": alerts, **extra})


def _reasons(failed: Path) -> dict[str, dict]:
    return {n.removesuffix(".reason.json"): json.loads((failed / n).read_text())
            for n in os.listdir(failed) if n.endswith(".reason.json")}


def test_a_bad_alert_is_quarantined_and_the_healthy_critical_beside_it_is_decided(make_daemon) -> None:
    daemon = make_daemon()
    bad = alert(2)
    bad["annotations"]["condition"] = ",".join(f"c{i}" for i in range(70))  # over the 64-condition cap
    drop(daemon.spool.incoming, "group.json", group([alert(1), bad]))
    stats = daemon.run_once()
    assert stats.decided == 1 and os.listdir(daemon.spool.done) == ["group.json"]
    reasons = _reasons(daemon.spool.failed)
    assert list(reasons) == ["group.json@alerts-1"]
    assert reasons["group.json@alerts-1"]["code"] == "schema" and reasons["group.json@alerts-1"]["item"] == "/alerts/1"
    assert json.loads((daemon.spool.failed / "group.json@alerts-1").read_bytes())["fingerprint"] == "fp00002"
    rows = daemon.audit.conn.execute("SELECT outcome, code, reason FROM intake ORDER BY id").fetchall()
    assert [(o, c) for o, c, _ in rows] == [("quarantined", "schema"), ("accepted", "")]
    assert rows[0][2].startswith("schema: /alerts/1: /conditions:")
    severity = daemon.audit.conn.execute("SELECT severity FROM decisions").fetchone()[0]
    assert severity == "CRITICAL"
    assert 'escalation_intake_failures_total{code="schema"} 1.0' in daemon.metrics.render().decode()


def test_a_group_of_2000_alerts_over_the_per_event_limit_is_decided_whole(make_daemon) -> None:
    daemon = make_daemon()
    body = group([alert(n) for n in range(2000)])
    assert len(body) > daemon.pipeline.max_event_bytes
    drop(daemon.spool.incoming, "storm.json", body)
    stats = daemon.run_once()
    assert stats.decided == 2000 and stats.failed == 0
    assert daemon.audit.count("decisions") == 2000
    assert daemon.audit.count("intake", "outcome = 'accepted'") == 2000


def test_an_empty_alert_list_leaves_an_intake_row(make_daemon) -> None:
    daemon = make_daemon()
    drop(daemon.spool.incoming, "empty.json", group([]))
    daemon.run_once()
    row = daemon.audit.conn.execute("SELECT file, outcome, code FROM intake").fetchone()
    assert row == ("empty.json", "empty", "no-events")


def test_max_alerts_truncation_is_logged_recorded_and_counted(make_daemon, caplog) -> None:
    daemon = make_daemon()
    drop(daemon.spool.incoming, "cut.json", group([alert(1)], truncatedAlerts=12))
    with caplog.at_level("WARNING", logger="escalation_handlers.daemon"):
        daemon.run_once()
    row = daemon.audit.conn.execute("SELECT outcome, code, reason FROM intake WHERE outcome != 'accepted'").fetchone()
    assert row[:2] == ("truncated", "truncated-alerts") and "left 12 alerts" in row[2]
    assert any(getattr(r, "code", "") == "truncated-alerts" for r in caplog.records)
    assert 'escalation_intake_failures_total{code="truncated-alerts"} 1.0' in daemon.metrics.render().decode()
    assert _reasons(daemon.spool.failed) == {}  # nothing to keep: those alerts never arrived


def test_a_routine_resend_is_counted_and_done_not_failed(make_daemon) -> None:
    daemon = make_daemon()
    drop(daemon.spool.incoming, "a.json", group([alert(1), alert(2)]))
    daemon.run_once()
    drop(daemon.spool.incoming, "b-repeat-interval.json", group([alert(1), alert(2)]))
    stats = daemon.run_once()
    assert stats.failed == 0 and sorted(os.listdir(daemon.spool.done)) == ["a.json", "b-repeat-interval.json"]
    assert os.listdir(daemon.spool.failed) == []
    assert "escalation_intake_duplicates_total 2.0" in daemon.metrics.render().decode()
    assert daemon.audit.count("intake", "outcome = 'duplicate'") == 2


def test_the_label_cap_keeps_a_label_the_rules_read(make_daemon, rules_copy: Path) -> None:
    severity = rules_copy / "severity.yaml"
    severity.write_text(severity.read_text().replace("rules:\n", "rules:\n  - id: gold-tier\n    severity: MAJOR\n"
                                                     "    when: {labels.zz_tier: gold}\n", 1))
    daemon = make_daemon()
    many = {f"a{i:03d}": "v" for i in range(100)}  # sorted before zz_tier, as Prometheus sends labels
    drop(daemon.spool.incoming, "wide.json", group([alert(1, severity="info", zz_tier="gold", **many)]))
    daemon.run_once()
    row = daemon.audit.conn.execute("SELECT severity, fired_rules FROM decisions").fetchone()
    assert row[0] == "MAJOR" and json.loads(row[1])[0] == "severity:gold-tier"
