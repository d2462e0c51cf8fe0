"""``rules history`` and engine.report.history over a generated log whose answers the test computes itself."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from history_gen import BASE, HASHES, Incident, expected_row
from history_kit import rules

from engine.model.errors import AuditError
from engine.report.history import Filters, latest, list_incidents, parse_when, render, show
from engine.store.readonly import connect_ro

GOLDEN = Path(__file__).parent / "golden"


def _epoch(ts: str) -> float:
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


def _expected(incidents: list[Incident], keep: Callable[[Incident, dict[str, Any]], bool] = lambda i, r: True
              ) -> list[dict[str, Any]]:
    rows = [(i, expected_row(i)) for i in incidents]
    picked = [r for i, r in rows if keep(i, r)]
    return sorted(picked, key=lambda r: (-_epoch(r["timestamp"]), r["incident_id"]))


def test_every_row_matches_the_independent_computation(generated: tuple[Path, list[Incident]]) -> None:
    path, incidents = generated
    got = list_incidents(path)
    assert len(got) == len(incidents) == 3000
    assert got == _expected(incidents)
    statuses = {r["status"] for r in got}
    assert statuses == {"open", "acked", "resolved"}  # the generator covers every status


CASES: list[tuple[Filters, Callable[[Incident, dict[str, Any]], bool]]] = [
    (Filters(severity="CRITICAL"), lambda i, r: r["severity"] == "CRITICAL"),
    (Filters(service="svc-03"), lambda i, r: i.service == "svc-03"),
    (Filters(team="frontend"), lambda i, r: i.team == "frontend"),
    (Filters(owner="erin@company.com"), lambda i, r: r["owner"] == "erin@company.com"),
    (Filters(status="acked"), lambda i, r: i.ack is not None and i.resolve is None),
    (Filters(status="open", severity="MAJOR"), lambda i, r: not i.ack and not i.resolve and r["severity"] == "MAJOR"),
    (Filters(since=BASE + 86400 * 5, until=BASE + 86400 * 6),
     lambda i, r: BASE + 86400 * 5 <= i.opened < BASE + 86400 * 6),
    (Filters(rule="latency-degraded"), lambda i, r: "MAJOR" in i.severities),
    (Filters(rule="severity:service-unavailable"), lambda i, r: "CRITICAL" in i.severities),
    (Filters(rules_hash=HASHES[1][:8]), lambda i, r: i.rules_hashes[0] == HASHES[1]),
    (Filters(outcome="failed"), lambda i, r: any(o == "failed" for _, o in i.pages + i.remediations)),
    (Filters(outcome="pending"), lambda i, r: any(o is None for _, o in i.pages + i.remediations)),
]


@pytest.mark.parametrize(("filters", "keep"), CASES, ids=[str(i) for i in range(len(CASES))])
def test_filters(generated: tuple[Path, list[Incident]], filters: Filters,
                 keep: Callable[[Incident, dict[str, Any]], bool]) -> None:
    path, incidents = generated
    want = _expected(incidents, keep)
    assert want, "the case selects something"
    assert list_incidents(path, filters) == want


def test_latest_is_the_newest_n(generated: tuple[Path, list[Incident]]) -> None:
    path, incidents = generated
    assert latest(path, 7) == _expected(incidents)[:7]
    assert latest(path, 5, Filters(team="sre")) == _expected(incidents, lambda i, r: i.team == "sre")[:5]


def test_cli_export_and_list_match_the_library(generated: tuple[Path, list[Incident]]) -> None:
    path, incidents = generated
    res = rules("history", "export", "--db", str(path), "--team", "backend", "--since", "2025-01-10T00:00:00Z")
    assert res.returncode == 0, res.stderr
    got = [json.loads(line) for line in res.stdout.splitlines()]
    assert got == list_incidents(path, Filters(team="backend", since=_epoch("2025-01-10T00:00:00Z")))
    assert len(got) > 10
    res = rules("history", "latest", "3", "--format", "json", "--db", str(path))
    assert json.loads(res.stdout) == _expected(incidents)[:3]
    res = rules("history", "list", "--format", "csv", "--status", "resolved", "--limit", "4", "--db", str(path))
    table = list(csv.DictReader(io.StringIO(res.stdout)))
    want = _expected(incidents, lambda i, r: i.resolve is not None)[:4]
    assert [r["incident_id"] for r in table] == [r["incident_id"] for r in want]
    assert [float(r["resolution_time"]) for r in table] == [r["resolution_time"] for r in want]


def test_show(generated: tuple[Path, list[Incident]]) -> None:
    path, incidents = generated
    inc = next(i for i in incidents if len(i.severities) == 3)
    row = show(path, inc.incident_id)
    assert row is not None
    assert {k: v for k, v in row.items() if k != "decisions"} == expected_row(inc)
    assert [d["severity"] for d in row["decisions"]] == inc.severities
    assert show(path, "INC-none") is None
    res = rules("history", "show", "INC-none", "--db", str(path))
    assert res.returncode == 1 and res.stderr.strip() == f"error: no incident 'INC-none' in {path}"


def test_bad_input_is_one_line(tmp_path: Path) -> None:
    res = rules("history", "latest", "--db", str(tmp_path / "missing.db"))
    assert res.returncode == 3
    assert res.stderr.strip() == f"error: no audit log at {tmp_path / 'missing.db'} (pass --db or set ESCALATION_DB)"
    assert not (tmp_path / "missing.db").exists()
    res = rules("history", "list", "--since", "yesterday", "--db", str(tmp_path / "x.db"))
    assert res.returncode == 2 and "'yesterday' is neither a duration" in res.stderr
    assert "Traceback" not in res.stderr


def test_reads_are_read_only(generated: tuple[Path, list[Incident]]) -> None:
    conn = connect_ro(generated[0])
    with pytest.raises(sqlite3.OperationalError, match="readonly|read-only"):
        conn.execute("INSERT INTO intake (file) VALUES ('x')")
    conn.close()
    with pytest.raises(AuditError):
        connect_ro(generated[0].parent / "nope.db")


def test_parse_when() -> None:
    now = datetime(2025, 3, 1, tzinfo=UTC)
    assert parse_when("7d", now) == now.timestamp() - 7 * 86400
    assert parse_when("90m", now) == now.timestamp() - 5400
    assert parse_when("2025-01-01", now) == datetime(2025, 1, 1, tzinfo=UTC).timestamp()
    assert parse_when("2025-01-01T01:00:00+01:00", now) == datetime(2025, 1, 1, tzinfo=UTC).timestamp()
    with pytest.raises(ValueError, match="neither a duration"):
        parse_when("7 days", now)


def test_renderings() -> None:
    rows = [{"incident_id": "INC-1", "severity": "MAJOR", "actions_taken": ["restart", "scale-out"],
             "owner": "a|b", "resolution_time": 12.5}]
    assert render(rows, "markdown") == (
        "| incident_id | severity | actions_taken | owner | resolution_time |\n"
        "|---|---|---|---|---|\n| INC-1 | MAJOR | restart, scale-out | a\\|b | 12.5 |\n")
    assert render(rows, "csv").splitlines()[1] == 'INC-1,MAJOR,"[""restart"", ""scale-out""]",a|b,12.5'
    narrow = render([{**rows[0], "service": "payment-api", "status": "open", "timestamp": "2025-01-01T00:00:00Z"}],
                    "table", width=40)
    assert all(len(line) <= 40 for line in narrow.splitlines())
    assert "INC-1" in narrow and "MAJOR" in narrow  # the first columns survive; later ones are dropped


def test_a_narrow_terminal_keeps_the_important_columns_and_shortens_long_cells() -> None:
    from engine.report.history import fit_columns

    long_id = "alertmanager:a1bc48475b20e73d:af5086529ec2865b"
    paged = [{"due_at": "2026-12-03T14:07:53.252Z", "incident": long_id, "adapter": "pagerduty", "step": 1,
              "targets": "sre-lead@company.com", "outcome": "pending", "result_at": None, "rules_hash": "3d" * 32}]
    shown = fit_columns(paged, list(paged[0]), 120)
    assert {"incident", "adapter", "targets", "outcome"} <= set(shown)  # who was paged and what came of it
    assert shown["incident"] is None  # an id is never shortened: it is copied into the next command
    assert sum((w if w is not None else len(str(paged[0][k]))) + 2 for k, w in shown.items()) <= 120 + 2
    assert list(shown) == [k for k in paged[0] if k in shown]  # in the table's own order
    history = [{"incident_id": "INC-2025-001", "timestamp": "2025-01-01T00:00:00Z", "severity": "MAJOR",
                "service": "payment-api", "status": "open", "owner": "sre-oncall@company.com", "team": "sre",
                "actions_taken": ["restart"], "resolution_time": None}]
    at80 = fit_columns(history, list(history[0]), 80)
    assert "actions_taken" in at80 and "owner" not in at80 and "team" not in at80  # a smaller one never jumps ahead
    assert sum((w if w is not None else max(len(k), len(str(history[0][k])))) + 2 for k, w in at80.items()) <= 80 + 2
    assert fit_columns(history, list(history[0]), 400) == {k: None for k in history[0]}


def test_golden_table_of_the_sample_events(sample_db: Path) -> None:
    res = rules("history", "latest", "20", "--db", str(sample_db), env={"COLUMNS": "160"})
    assert res.returncode == 0, res.stderr
    golden = GOLDEN / "history-latest.txt"
    assert res.stdout == golden.read_text()
    assert "\x1b[" not in res.stdout  # NO_COLOR

