"""Bad bytes: every rejection is an IntakeError with a stable code and a one-line reason."""

from __future__ import annotations

import pytest

from engine.intake import IntakeError, parse
from engine.intake.safejson import depth, load

GOOD = b'{"event_id": "e1", "timestamp": "2025-01-01T00:00:00Z", "service": "api"}'


def reject(data: bytes, **kwargs) -> IntakeError:
    with pytest.raises(IntakeError) as info:
        parse(data, **kwargs)
    err = info.value
    assert "\n" not in err.reason and "Traceback" not in err.reason
    return err


def test_fixture_directory_is_the_shared_one(fixture_bytes):
    # conftest computes parents[3]: tests/intake -> tests -> repo -> the directory holding shared/
    assert b"Inbound alert formats" in fixture_bytes("README.md")


def test_invalid_json_names_line_and_column():
    err = reject(b'{\n  "event_id": "e1"\n  "service": "api"}')
    assert err.code == "invalid-json"
    assert err.reason == "invalid JSON at line 3 column 3: Expecting ',' delimiter"


def test_invalid_utf8_names_the_byte_offset():
    err = reject(b'{"event_id": "caf\xe9"}')
    assert err.code == "not-utf8"
    assert err.reason == "not valid UTF-8 at byte 17"


def test_utf8_bom_is_tolerated_and_offsets_count_it():
    assert parse(b"\xef\xbb\xbf" + GOOD)[0].service == "api"
    assert reject(b'\xef\xbb\xbf{"a": "\xff"}').reason == "not valid UTF-8 at byte 10"


@pytest.mark.parametrize("data", [b"", b"   \n\t ", b"\xef\xbb\xbf"])
def test_empty_or_blank_body(data):
    err = reject(data)
    assert (err.code, err.reason) == ("empty", "empty file")


def test_two_megabytes_exceed_the_default_limit():
    err = reject(b" " * (2 * 1024 * 1024))
    assert err.code == "too-large"
    assert err.reason == "file is 2097152 bytes; the limit is 1048576 (--max-event-bytes)"


def test_small_max_bytes_is_checked_before_decoding():
    err = reject(b"\xff" * 101, max_bytes=100)  # not UTF-8 either: size wins
    assert err.code == "too-large"
    assert err.reason == "file is 101 bytes; the limit is 100 (--max-event-bytes)"
    assert parse(GOOD, max_bytes=len(GOOD))[0].event_id == "e1"


@pytest.mark.parametrize("opener,closer", [(b"[", b"]"), (b'{"a":', b"}")])
def test_ten_thousand_levels_are_too_deep(opener, closer):
    err = reject(opener * 10_000 + b"1" + closer * 10_000)
    assert (err.code, err.reason) == ("too-deep", "nesting deeper than 64 levels")


def test_unbalanced_deep_input_is_too_deep_not_a_crash():
    assert reject(b"[" * 500_000).code == "too-deep"


def test_depth_limit_is_exactly_64():
    assert depth(load(b"[" * 64 + b"]" * 64)) == 64
    assert reject(b"[" * 65 + b"]" * 65).code == "too-deep"


def test_brackets_inside_strings_do_not_count():
    doc = load(b'{"a": "' + b"[" * 100 + b'\\"{{{"}')
    assert doc == {"a": "[" * 100 + '"{{{'}


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_rejected(literal):
    err = reject(f'{{"metrics": {{"cpu": {literal}}}}}'.encode())
    assert err.code == "non-finite-number"
    assert err.reason == f"{literal} is not allowed (JSON numbers must be finite)"


def test_float_overflow_is_non_finite():
    err = reject(b'{"x": 1e999}')
    assert err.code == "non-finite-number"
    assert err.reason == "number 1e999 is out of range (JSON numbers must be finite)"


def test_huge_integer_is_invalid_json_not_a_valueerror():
    err = reject(b'{"x": ' + b"9" * 5000 + b"}")
    assert err.code == "invalid-json"
    assert "5000 digits" in err.reason


def test_name_prefixes_str_but_not_reason():
    err = reject(b"", name="events/bad.json")
    assert err.reason == "empty file"
    assert str(err) == "events/bad.json: empty file"
    assert err.name == "events/bad.json"
