"""Decisions that opened no incident (suppressed, deduplicated, a resolve for nothing open) hold ``incident_id = ''``:
they are never shown as one incident, and the commands that take an incident id say what became of such an event."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from history_kit import rules


def test_no_incident_with_an_empty_id(sample_db: Path) -> None:
    conn = sqlite3.connect(sample_db)
    loose = conn.execute("SELECT count(*) FROM decisions WHERE incident_id = ''").fetchone()[0]
    conn.close()
    assert loose >= 3  # the sample events' silence, maintenance window and stray resolves
    listed = json.loads(rules("incidents", "--format", "json", "--db", str(sample_db)).stdout)
    assert listed and all(i["incident_id"] for i in listed)
    for args in (["incident", "show", ""], ["timeline", ""], ["history", "show", ""]):
        res = rules(*args, "--db", str(sample_db))
        assert res.returncode == 1 and "no incident ''" in res.stderr, (args, res.stdout, res.stderr)


def test_a_suppressed_event_says_why(sample_db: Path) -> None:
    why = rules("audit", "why", "SUP-SILENCE-1", "--db", str(sample_db))
    assert why.returncode == 0
    assert why.stdout.splitlines()[1].startswith("  suppressed by silence: silence sandbox-decommission by ")
    doc = json.loads(rules("audit", "why", "SUP-SILENCE-1", "--format", "json", "--db", str(sample_db)).stdout)
    assert (doc["suppression"]["outcome"], doc["suppression"]["mechanism"]) == ("suppressed", "silence")
    res = rules("timeline", "SUP-SILENCE-1", "--db", str(sample_db))
    assert res.returncode == 1
    assert res.stderr.strip() == (f"error: no incident 'SUP-SILENCE-1' in {sample_db}; it is an event (MAJOR, "
                                  "suppressed by silence): see rules audit why SUP-SILENCE-1")
    res = rules("timeline", "SUP-DEDUP-2", "--db", str(sample_db))
    assert "repeat by dedup, incident SUP-DEDUP-1" in res.stderr
    unknown = rules("timeline", "NOPE", "--db", str(sample_db))
    assert unknown.stderr.strip() == f"error: no incident 'NOPE' in {sample_db}"
