"""The classifier inside the engine: model facts reach rules, rules stay authoritative, audit."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from intel_kit import REPO, as_bytes, event_dict, fake_model

from engine.classifier.model import DEFAULT_MODEL_PATH
from engine.decide import Decider
from engine.decide.classify import NO_MODEL, load_model
from engine.model.event import Event
from engine.run.pipeline import Pipeline
from engine.store.audit import Audit

BREACH_LOGS = [{"level": "critical", "message": "unauthorized access from 10.0.0.9", "count": 3}]
HEALTHY = {"error_rate": 0.001, "latency_p99_ms": 120.0}


def test_model_label_rule_fires_and_sets_critical(compiled, make_event: Callable[..., Event]) -> None:
    event = make_event(metrics=HEALTHY, logs=BREACH_LOGS)
    decision = Decider(compiled, model=fake_model("CRITICAL", 0.97)).decide(event)
    assert decision.severity == "CRITICAL"
    assert decision.fired_rules[0] == "severity:model-critical-logs"
    assert decision.event_doc["model"] == {"label": "CRITICAL", "confidence": 0.97}
    assert decision.model == {"label": "CRITICAL", "confidence": 0.97, "version": "fake00000000"}
    assert decision.confidence == pytest.approx(0.97)
    without = Decider(compiled, model=NO_MODEL).decide(event)
    assert (without.severity, without.confidence) == ("NONE", 1.0)
    assert "model" not in without.event_doc


@pytest.mark.parametrize(("confidence", "severity"), [(0.93, "MODERATE"), (0.89, "NONE")])
def test_confident_model_turns_rules_none_into_review(compiled, make_event, confidence, severity) -> None:
    decision = Decider(compiled, model=fake_model("MAJOR", confidence)).decide(make_event(metrics=HEALTHY))
    assert decision.severity == severity
    assert ("severity:model-review" in decision.fired_rules) == (severity == "MODERATE")


def test_threshold_rules_outrank_a_model_without_corroboration(compiled, make_event) -> None:
    event = make_event(metrics={"latency_p99_ms": 1500.0})  # MAJOR by threshold, no error logs
    decision = Decider(compiled, model=fake_model("CRITICAL", 0.99)).decide(event)
    assert decision.severity == "MAJOR"
    assert decision.fired_rules[0] == "severity:latency-degraded"
    assert decision.disagrees
    assert decision.confidence == pytest.approx(0.01 / 3, abs=1e-6)  # P(MAJOR) under the model


def _missing(tmp: Path) -> Path:
    return tmp / "absent.skops"


def _corrupt(tmp: Path) -> Path:
    path = tmp / "corrupt.skops"
    data = b"this is not a zip file"
    path.write_bytes(data)
    path.with_suffix(".sha256").write_text(f"{hashlib.sha256(data).hexdigest()}  corrupt.skops\n")
    return path


def _wrong_hash(tmp: Path) -> Path:
    path = tmp / "swapped.skops"
    shutil.copyfile(DEFAULT_MODEL_PATH, path)
    path.with_suffix(".sha256").write_text("0" * 64 + "  swapped.skops\n")
    return path


@pytest.mark.parametrize(("make_path", "reason"), [
    (_missing, "model file not found"), (_corrupt, "not a readable skops file"), (_wrong_hash, "does not match"),
])
def test_unavailable_model_warns_once_and_rules_keep_deciding(tmp_path, compiled, caplog, make_path,
                                                               reason) -> None:
    path = make_path(tmp_path)
    caplog.set_level(logging.WARNING, logger="escalation.model")
    state = load_model(path)
    assert not state.available and state.version.startswith("unavailable: ") and reason in state.version
    audit = Audit(tmp_path / "audit.db")
    pipeline = Pipeline(compiled, audit, model=str(path))
    Decider(compiled, model=str(path))  # loaded again: no second warning
    warnings = [r for r in caplog.records if r.name == "escalation.model"]
    assert len(warnings) == 1 and reason in warnings[0].getMessage() and "\n" not in warnings[0].getMessage()
    doc = event_dict("down-1", "2025-03-01T10:00:00Z", conditions={"service_unavailable": True})
    result = pipeline.process("down.json", as_bytes(doc))
    assert result.ok and result.decisions[0].severity == "CRITICAL"
    assert result.decisions[0].confidence == 1.0
    row = audit.conn.execute("SELECT model_version, model_label, model_confidence FROM decisions").fetchone()
    assert row[0] == state.version and row[1] is None and row[2] is None
    assert audit.count("disagreements") == 0


def test_disagreement_is_audited_and_agreement_is_not(tmp_path, compiled) -> None:
    audit = Audit(tmp_path / "audit.db")
    pipeline = Pipeline(compiled, audit, model=fake_model("NONE", 0.99))
    slow = event_dict("slow-1", "2025-03-01T10:00:00Z", metrics={"latency_p99_ms": 600.0})
    calm = event_dict("calm-1", "2025-03-01T10:01:00Z", metrics=HEALTHY)
    assert pipeline.process("two.json", as_bytes([slow, calm])).ok  # type: ignore[arg-type]
    rows = audit.conn.execute("SELECT event_id, severity, rule, model_label, model_confidence, model_version "
                              "FROM disagreements").fetchall()
    assert rows == [("slow-1", "MODERATE", "severity:latency-elevated", "NONE", 0.99, "fake00000000")]
    decided = dict(audit.conn.execute("SELECT event_id, model_label FROM decisions").fetchall())
    assert decided == {"slow-1": "NONE", "calm-1": "NONE"}


def _rules(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from engine.cli import entry; entry()", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120)


def test_simulate_shows_rule_and_model_verdicts() -> None:
    sample = "sample-events/critical-service-outage.json"
    text = _rules("simulate", sample)
    assert text.returncode == 0, text.stderr
    assert re.search(r"verdicts: rules CRITICAL; model (NONE|MODERATE|MAJOR|CRITICAL) \(\d\.\d{3}, "
                     r"version [0-9a-f]{12}\)", text.stdout), text.stdout
    js = _rules("simulate", sample, "--format", "json")
    model = json.loads(js.stdout)[0]["model"]
    assert set(model) == {"label", "confidence", "version"} and 0 < model["confidence"] <= 1
    assert model["version"] == load_model().version
    gone = _rules("simulate", sample, "--model", "/nonexistent/severity.skops")
    assert gone.returncode == 0
    assert "verdicts: rules CRITICAL; model unavailable: model file not found" in gone.stdout
    assert gone.stderr.count("severity model unavailable") == 1 and "Traceback" not in gone.stderr


def test_model_columns_of_an_old_audit_log_are_added_on_open(tmp_path) -> None:
    db = tmp_path / "old.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE decisions (event_id TEXT PRIMARY KEY, service TEXT, severity TEXT)")
    conn.commit()
    conn.close()
    audit = Audit(db)
    cols = {r[1] for r in audit.conn.execute("PRAGMA table_info(decisions)")}
    assert {"event_epoch", "model_version", "model_label", "model_confidence"} <= cols


class _ByTitle:
    """A fake classifier whose verdict depends on the event's content (CRITICAL for a 'breach' title)."""

    version = "fake00000000"

    def probabilities(self, event: Event) -> dict[str, float]:
        top = "CRITICAL" if "breach" in event.title else "NONE"
        return {s: 0.97 if s == top else 0.01 for s in ("NONE", "MODERATE", "MAJOR", "CRITICAL")}


def test_a_duplicate_event_id_in_a_batch_does_not_lend_its_verdict_to_the_decided_event(tmp_path, compiled) -> None:
    from engine.decide.classify import ModelState

    audit = Audit(tmp_path / "audit.db")
    pipeline = Pipeline(compiled, audit, model=ModelState(_ByTitle(), "fake00000000"))  # type: ignore[arg-type]
    quiet = event_dict("same-1", "2025-03-01T10:00:00Z", metrics=HEALTHY, logs=BREACH_LOGS)
    loud = {**quiet, "title": "security breach reported"}  # same event_id, other content: a duplicate
    results = pipeline.process_batch([("a.json", as_bytes(quiet), None), ("b.json", as_bytes(loud), None)])
    assert [r.code for r in results] == ["", "duplicate"]
    decision = results[0].decisions[0]
    assert decision.model["label"] == "NONE" and decision.severity == "NONE"  # its own verdict, not b.json's
