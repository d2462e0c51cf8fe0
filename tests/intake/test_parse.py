"""parse()/detect(): the public API, format detection and unknown formats."""

from __future__ import annotations

import pytest

import engine.intake as intake
from engine.intake import CODES, IntakeError, detect, parse


def test_public_api_is_small():
    assert sorted(intake.__all__) == ["CODES", "FORMATS", "IntakeError", "Quarantined", "detect", "parse"]
    assert [m.NAME for m in intake.FORMATS] == [
        "cloudwatch-sns",
        "pagerduty-webhook",
        "opsgenie-webhook",
        "grafana",
        "alertmanager",
        "datadog",
        "canonical",
    ]


def test_unknown_object_lists_its_keys():
    with pytest.raises(IntakeError) as info:
        parse(b'{"zeta": 1, "alpha": {"x": 2}}')
    assert info.value.code == "unknown-format"
    assert info.value.reason == (
        "unknown format: expected a canonical event or an Alertmanager/Grafana/SNS-CloudWatch/Datadog/"
        "PagerDuty webhook (top-level keys: alpha, zeta)"
    )


def test_many_keys_are_capped():
    doc = "{" + ",".join(f'"k{i:02}": 0' for i in range(30)) + "}"
    with pytest.raises(IntakeError) as info:
        parse(doc.encode())
    assert info.value.reason.endswith("k11, … (30 keys))")


@pytest.mark.parametrize(
    "data,kind", [(b"42", "a number"), (b'"x"', "a string"), (b"null", "null"), (b"true", "a boolean")]
)
def test_top_level_scalar_is_unknown_format(data, kind):
    with pytest.raises(IntakeError) as info:
        parse(data)
    assert info.value.code == "unknown-format"
    assert info.value.reason.endswith(f"got {kind}")


def test_detect_raises_for_unknown_documents():
    with pytest.raises(IntakeError) as info:
        detect({"hello": "world"})
    assert info.value.code == "unknown-format"


def test_codes_are_stable_kebab_case():
    assert set(CODES) >= {
        "too-large",
        "not-utf8",
        "empty",
        "invalid-json",
        "non-finite-number",
        "too-deep",
        "unknown-format",
        "schema",
        "sns-subscription-confirmation",
        "ignored-webhook",
    }
    assert all(code == code.lower() and " " not in code and "_" not in code for code in CODES)
    with pytest.raises(ValueError):
        IntakeError("x", "made-up-code")


def test_reason_is_always_one_line():
    err = IntakeError("first line\nsecond\tline")
    assert err.reason == "first line second line"
