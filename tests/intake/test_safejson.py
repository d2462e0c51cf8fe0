"""Bad bytes: every rejection is an IntakeError with a stable code and a one-line reason."""

from __future__ import annotations

import json

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


def test_fixture_directory_holds_the_vendor_payloads(fixture_bytes):
    # conftest computes parents[1] / fixtures / vendor: tests/intake -> tests -> tests/fixtures/vendor
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
    assert err.reason == "file is 2097152 bytes; the limit is 1048576 (--max-body-bytes)"


def test_small_max_bytes_is_checked_before_decoding():
    err = reject(b"\xff" * 101, max_bytes=100)  # not UTF-8 either: size wins
    assert err.code == "too-large"
    assert err.reason == "file is 101 bytes; the limit is 100 (--max-body-bytes)"
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


# --- the orjson fast path must be invisible: same value (and types) or the same rejection ----------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from engine.intake import safejson  # noqa: E402


def stdlib_only(data: bytes) -> object:
    """``load`` without the fast path (what it was before orjson): the reference."""
    if len(data) > 1_048_576:
        raise IntakeError("too large", "too-large")
    offset = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    try:
        text = data[offset:].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise IntakeError(f"not valid UTF-8 at byte {exc.start + offset}", "not-utf8") from exc
    return safejson._strict_loads(text)


def outcome(loader, data) -> tuple[str, ...]:
    try:
        return ("ok", repr(loader(data)))  # repr tells 1 from 1.0 and -0.0 from 0.0, and keeps key order
    except IntakeError as exc:
        return ("error", exc.code, exc.reason)


def same_as_stdlib(data: bytes) -> None:
    assert outcome(load, data) == outcome(stdlib_only, data)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return
    assert outcome(safejson.loads, text) == outcome(safejson._strict_loads, text)


NUMBER = r"-?(0|[1-9][0-9]{0,40})(\.[0-9]{1,30})?([eE][+-]?[0-9]{1,4})?"
JSONISH = '{}[]":,0123456789.eE+- \t\n\rtruefalsenullNaInfiy\\/u\u00e9\u2028\x00\x1f'


@pytest.mark.parametrize("data", [
    b'{"x": 123456789012345678901234567890}',  # orjson would make this a float
    b'{"x": -9223372036854775809, "y": 18446744073709551616}',
    b'{"x": 18446744073709551615, "y": 9223372036854775807, "z": -9223372036854775808}',
    b'{"x": 0.0026076460129200674, "y": 1.7976931348623157e308, "z": 5e-324, "w": -0.0, "v": -0}',
    b'{"x": 1e999}', b'{"x": -1E400}', b'[NaN]', b'[Infinity]', b'[-Infinity]',
    b'{"a": 1, "b": 2, "a": 3}',  # duplicate keys: last value, first position
    b'["\\ud800"]', b'["\\udc00\\ud800"]', b'["\xed\xa0\x80"]', b'{"a": "\\u0000"}',
    b'\xef\xbb\xbf\xef\xbb\xbf[1]', b'[1]\x00', b'[01]', b'[1.]', b'"\t"', b" ", b"",
    b"[" * 64 + b"]" * 64, b"[" * 65 + b"]" * 65, b"[" * 1100 + b"]" * 1100,
    b'{"a": "' + b"[" * 100 + b'"}', b"[" + b"{}," * 80 + b"{}]",  # many openers, shallow
    b'{"x": ' + b"9" * 101 + b"}", b'{"x": ' + b"9" * 100 + b"}", b'"12345678901234567890"',
    # integers beyond 64 bits (orjson makes them floats) right after every character that can precede one
    b"[99999999999999999999]", b"99999999999999999999", b'{"a":[-9999999999999999999]}', b"[1,99999999999999999999]",
    b'{"a":99999999999999999999}', b'{"a":\n99999999999999999999}', b"[99999999999999999999.5, 99999999999999999999e2]",
], ids=lambda data: repr(data[:24]))
def test_fast_path_agrees_with_stdlib_on_edge_cases(data: bytes) -> None:
    same_as_stdlib(data)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200))
def test_fast_path_agrees_with_stdlib_on_bytes(data: bytes) -> None:
    same_as_stdlib(data)


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=JSONISH + "\ud800\udc00", max_size=60))
def test_fast_path_agrees_with_stdlib_on_json_like_text(text: str) -> None:
    same_as_stdlib(text.encode("utf-8", "surrogatepass"))


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.from_regex(NUMBER, fullmatch=True), min_size=1, max_size=6), st.booleans())
def test_fast_path_agrees_with_stdlib_on_numbers(numbers: list[str], as_object: bool) -> None:
    body = ",".join(f'"k{i % 3}":{n}' for i, n in enumerate(numbers)) if as_object else ",".join(numbers)
    same_as_stdlib((f"{{{body}}}" if as_object else f"[{body}]").encode())
    same_as_stdlib(numbers[0].encode())  # a bare number is a document too


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=40,
))
def test_fast_path_agrees_with_stdlib_on_json_values(value: object) -> None:
    same_as_stdlib(json.dumps(value).encode())
