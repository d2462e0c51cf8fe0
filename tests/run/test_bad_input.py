"""Bad input never stops the daemon and is never lost: each file ends in failed/ with a reason."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from daemon_kit import drop, event
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

CASES = {
    "invalid-json.json": (b'{"event_id": "x",', "invalid-json"),
    "not-utf8.json": (b'{"event_id": "\xff\xfe"}', "not-utf8"),
    "empty.json": (b"", "empty"),
    "deep.json": (b"[" * 5000 + b"]" * 5000, "too-deep"),
    "nan.json": (json.dumps({**event(1), "metrics": {"error_rate": float("nan")}}).encode(), "non-finite-number"),
    "inf.json": (b'{"event_id": "E1", "metrics": {"x": Infinity}}', "non-finite-number"),
    "schema.json": (json.dumps({**event(2), "timestamp": "yesterday"}).encode(), "schema"),
    "unknown.json": (b'{"hello": "world"}', None),  # unknown-format or schema, depending on detection
    "scalar.json": (b"42", None),
}


def _reason(failed: Path, name: str) -> dict:
    return json.loads((failed / f"{name}.reason.json").read_text())


def test_each_kind_of_bad_file_goes_to_failed_with_a_one_line_reason(make_daemon, tmp_path: Path) -> None:
    daemon = make_daemon(max_event_bytes=1_048_576)
    spool = daemon.spool
    for name, (data, _) in CASES.items():
        drop(spool.incoming, name, data)
    huge = spool.incoming / "huge.json"  # 100 MB, sparse: the size is checked before reading
    with open(huge, "wb") as fh:
        fh.truncate(100 * 1024 * 1024)
    os.symlink("/etc/passwd", spool.incoming / "link.json")
    (spool.incoming / "a-directory").mkdir()
    drop(spool.incoming, "good.json", event(3))
    drop(spool.incoming, "zz-again.json", event(3))  # same event_id: a duplicate, not re-decided, not a failure
    (spool.incoming / ".partial.json.tmp").write_text("{")  # a producer's temporary name: ignored

    stats = daemon.run_once()

    assert stats.done == 2 and stats.decided == 1
    assert sorted(os.listdir(spool.done)) == ["good.json", "zz-again.json"]
    for name, (_, code) in CASES.items():
        reason = _reason(spool.failed, name)
        assert "\n" not in reason["reason"] and reason["reason"]
        if code:
            assert reason["code"] == code, (name, reason)
    assert _reason(spool.failed, "huge.json")["code"] == "too-large"
    assert _reason(spool.failed, "link.json")["code"] == "not-a-file"
    assert _reason(spool.failed, "a-directory")["code"] == "not-a-file"
    assert not (spool.failed / "zz-again.json").exists()
    assert (spool.failed / "link.json").is_symlink()  # moved, never followed
    assert os.listdir(spool.incoming) == [".partial.json.tmp"]
    assert os.listdir(spool.processing) == []
    assert daemon.audit.count("decisions") == 1
    text = daemon.metrics.render().decode()
    assert 'escalation_events_total{outcome="failed"} 12.0' in text
    assert 'escalation_events_total{outcome="duplicate"} 1.0' in text
    assert "escalation_intake_duplicates_total 1.0" in text
    assert 'escalation_intake_failures_total{code="duplicate"}' not in text
    assert 'escalation_intake_failures_total{code="too-large"} 1.0' in text


def test_a_name_already_in_done_is_not_overwritten(make_daemon) -> None:
    daemon = make_daemon()
    drop(daemon.spool.incoming, "same.json", event(1))
    daemon.run_once()
    drop(daemon.spool.incoming, "same.json", event(2))
    daemon.run_once()
    assert sorted(os.listdir(daemon.spool.done)) == ["same.json", "same.json~1"]
    assert daemon.audit.count("decisions") == 2


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20)


def _mutated_event(values: dict) -> bytes:
    return json.dumps({**event(0), **values}, allow_nan=True).encode()


payloads = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v, allow_nan=True).encode()),
    st.dictionaries(st.sampled_from(["event_id", "timestamp", "service", "metrics", "status", "labels", "source"]),
                    json_values, max_size=4).map(_mutated_event),
    st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
)


@pytest.mark.filterwarnings("ignore")
def test_fuzzed_inputs_never_stop_the_daemon_and_always_end_in_done_or_failed(make_daemon) -> None:
    daemon = make_daemon()
    spool = daemon.spool
    counter = iter(range(10**9))

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(batch=st.lists(payloads, min_size=1, max_size=4))
    def check(batch: list[bytes]) -> None:
        names = [f"f{next(counter):06d}.json" for _ in batch]
        for name, data in zip(names, batch, strict=True):
            drop(spool.incoming, name, data)
        daemon.run_once()
        for name in names:
            in_done, in_failed = (spool.done / name).exists(), (spool.failed / name).exists()
            assert in_done != in_failed, name
            if in_failed:
                reason = json.loads((spool.failed / f"{name}.reason.json").read_text())
                assert reason["code"] and "\n" not in reason["reason"]
        assert os.listdir(spool.incoming) == [] and os.listdir(spool.processing) == []

    check()


def test_an_engine_failure_fails_only_its_own_file_in_a_group(make_daemon, monkeypatch) -> None:
    daemon = make_daemon()
    decide = daemon.pipeline.decider.decide

    def flaky(ev, *args, **kwargs):
        if ev.event_id == "E000002":
            raise RuntimeError("engine bug on this event")
        return decide(ev, *args, **kwargs)

    monkeypatch.setattr(daemon.pipeline.decider, "decide", flaky)
    for i in range(5):
        drop(daemon.spool.incoming, f"{i}.json", event(i))
    stats = daemon.run_once()
    assert stats.done == 4 and stats.failed == 1
    assert _reason(daemon.spool.failed, "2.json")["code"] == "engine-failure"
    assert daemon.audit.count("decisions") == 4


def test_metrics_show_what_the_decision_state_holds_in_memory(make_daemon) -> None:
    daemon = make_daemon()
    for i in range(5):  # five services (svc-0..svc-4), five fingerprints: five open incidents
        drop(daemon.spool.incoming, f"m{i}.json", event(i, metrics={"error_rate": 0.2}))
    daemon.run_once()
    held = len(daemon.pipeline.suppression.incidents)
    assert held == 5
    text = daemon.metrics.render().decode()
    assert f"escalation_open_incidents {held:.1f}" in text
    assert f"escalation_history_services {len(daemon.pipeline.history._services):.1f}" in text


def test_a_file_name_too_long_for_its_reason_file_is_quarantined_not_a_crash(make_daemon) -> None:
    """A 255-byte name is valid in incoming/, but '.<name>.reason.json.tmp' is not: before, writing the
    reason file raised ENAMETOOLONG out of run_once, and the file stayed in processing/ to crash every start."""
    daemon = make_daemon()
    spool = daemon.spool
    long_bad = "b" * 250 + ".json"
    long_good = "g" * 250 + ".json"
    (spool.done / long_good).write_text("an earlier file of the same name")  # its move needs a ~1 suffix
    for name, data in ((long_bad, '{"event_id": '), (long_good, json.dumps(event(7)))):
        drop(spool.incoming, "short.json.tmp", data)  # the producer's temporary name must be shorter
        os.rename(spool.incoming / "short.json.tmp", spool.incoming / name)

    stats = daemon.run_once()

    assert (stats.done, stats.failed) == (1, 1)
    assert os.listdir(spool.processing) == [] and os.listdir(spool.incoming) == []
    failed = sorted(os.listdir(spool.failed))
    reasons = [n for n in failed if n.endswith(".reason.json")]
    assert len(failed) == 2 and len(reasons) == 1
    reason = json.loads((spool.failed / reasons[0]).read_text())
    assert reason["file"] == long_bad and reason["code"] == "invalid-json"
    assert reasons[0] == f"{[n for n in failed if n not in reasons][0]}.reason.json"
    assert all(len(n.encode()) <= 255 for n in failed + os.listdir(spool.done))
    assert len(os.listdir(spool.done)) == 2
