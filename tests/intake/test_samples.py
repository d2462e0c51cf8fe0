"""sample-events/formats/: exact copies of vendor payloads (tests/fixtures/vendor/) that normalize sensibly."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.intake import detect, parse
from engine.intake.safejson import load

SAMPLES = Path(__file__).resolve().parents[2] / "sample-events" / "formats"
EXPECTED = {
    "alertmanager-firing.json": (
        "alertmanager_webhook_v4_firing_zulip.json",
        "alertmanager",
        ["firing", "firing"],
        ["high-cpu-temperature", "high-cpu-temperature"],
    ),
    "grafana-firing.json": (
        "grafana_alerting_webhook_firing_docs.json",
        "grafana",
        ["firing", "firing"],
        ["high-memory-usage", "high-cpu-usage"],
    ),
    "datadog-triggered.json": (
        "datadog_webhook_legacy_triggered_real.json",
        "datadog",
        ["firing"],
        ["dock-is-almost-out-of-memory"],
    ),
    "datadog-recovered.json": (
        "datadog_webhook_legacy_recovered_real.json",
        "datadog",
        ["resolved"],
        ["dock-is-almost-out-of-memory"],
    ),
}


def test_every_sample_is_covered():
    assert sorted(p.name for p in SAMPLES.glob("*.json")) == sorted(EXPECTED)


@pytest.mark.parametrize("sample", sorted(EXPECTED))
def test_sample_is_a_copy_and_normalizes(sample, fixture_bytes):
    source, fmt, statuses, services = EXPECTED[sample]
    data = (SAMPLES / sample).read_bytes()
    assert data == fixture_bytes(source)
    assert sample in (SAMPLES / "README.md").read_text() and source in (SAMPLES / "README.md").read_text()
    assert detect(load(data)) == fmt
    events = parse(data, name=sample)
    assert [e.status for e in events] == statuses
    assert [e.service for e in events] == services
    assert all(e.title for e in events)
