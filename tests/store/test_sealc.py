"""The C row hashing (engine/store/_sealc.c) gives the very bytes of the Python definition
(engine/store/ledger_rows.py, ledger_merkle.py) on generated rows, or the same error."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.store import ledger_merkle, ledger_rows
from engine.store.ledger_rows import MARK, hash_range, hash_range_py

sealc = ledger_rows._sealc

# every kind of value sqlite hands back, and what else a row could hold, at the edges orjson has
any_text = st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=()), max_size=12)
values = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(2 ** 63) - 2, max_value=2 ** 64 + 2), st.integers(-300, 300),
    st.sampled_from([-(2 ** 63), 2 ** 63 - 1, 2 ** 63, 2 ** 64 - 1, 2 ** 64, -(2 ** 63) - 1]),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, -0.0, 1e300, 5e-324]),
    any_text, st.sampled_from(['"', "\\", "\x00\x1f\x7f", "\b\t\n\f\r", "é€😀", "\u2028\u2029", "</script>"]),
    st.binary(max_size=8),
    any_text.map(lambda s: MARK + s), st.just(MARK + "ab" * 32), st.just("redacted:sha25"),
    st.lists(st.integers(0, 9), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(0, 9), max_size=2),
)


@st.composite
def ranges(draw: Any) -> tuple[str, list[tuple[Any, ...]], list[int], int]:
    ncols = draw(st.integers(0, 5))
    n = draw(st.integers(0, 6))
    rows = [(draw(st.integers(1, 2 ** 40)), *(draw(values) for _ in range(ncols))) for _ in range(n)]
    where = sorted(draw(st.sets(st.integers(1, ncols), max_size=ncols))) if ncols else []
    table = draw(st.sampled_from(["events", "facts", "täble", "a\x00b"]))
    return table, rows, where, ncols


def both(table: str, rows: list[tuple[Any, ...]], where: list[int], ncols: int) -> tuple[Any, Any]:
    out = []
    for fn in (hash_range_py, hash_range):
        try:
            out.append(fn(table, rows, where, ncols))
        except Exception as exc:  # noqa: BLE001 — the error is the result compared
            out.append(type(exc))
    return out[0], out[1]


def test_the_accelerator_is_built() -> None:
    assert sealc is not None, ("engine/store/_sealc.c was not built: install a C compiler and OpenSSL's headers "
                               "(Debian: gcc libssl-dev) and reinstall; the ledger still works, in Python, slower")


@settings(max_examples=1500, deadline=None)
@given(ranges())
def test_c_equals_the_definition(case: tuple[str, list[tuple[Any, ...]], list[int], int]) -> None:
    py, c = both(*case)
    assert c == py


@pytest.mark.parametrize("value", ["\ud800", "a\udfffb", 2 ** 64, -(2 ** 63) - 1, {1: 2}, object()])
def test_unencodable_values_raise_what_orjson_raises(value: Any) -> None:
    for where in ([], [1]):
        py, c = both("events", [(1, value)], where, 1)
        assert isinstance(py, type) and issubclass(py, Exception)
        assert c is py


def test_known_row_hash() -> None:
    """Independent of both: SHA-256(0x00 ‖ table ‖ 0x00 ‖ JSON) written out by hand."""
    rows = [(7, "a\"\n", None, 3, b"\x01\xff", MARK + "00" * 32), (8, "x", 1.5, -2, b"", "y")]
    hashes, digests = hash_range("events", rows, [5], 5)
    cell_y = "sha256:" + hashlib.sha256(b'"y"').hexdigest()
    want = [b'[7,"a\\"\\n",null,3,"01ff","sha256:' + b"00" * 32 + b'"]',
            b'[8,"x",1.5,-2,"","' + cell_y.encode() + b'"]']
    assert hashes == b"".join(hashlib.sha256(b"\x00events\x00" + w).digest() for w in want)
    col2 = hashlib.sha256(b"[null,1.5]").hexdigest()[:16]
    assert digests[1] == col2 and len(digests) == 5


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(min_size=32, max_size=32), max_size=70))
def test_merkle_root_equals_the_definition(leaves: list[bytes]) -> None:
    assert sealc is not None
    want = ledger_merkle.root_py(leaves)
    assert ledger_merkle.root(leaves) == want
    assert ledger_merkle.root_of(b"".join(leaves)) == want
    assert bytes(sealc.merkle_root(b"".join(leaves))) == want


def test_merkle_root_of_three_by_hand() -> None:
    a, b, c = (hashlib.sha256(bytes([i])).digest() for i in range(3))
    ab = hashlib.sha256(b"\x01" + a + b).digest()
    assert ledger_merkle.root_of(a + b + c) == hashlib.sha256(b"\x01" + ab + c).digest()
    assert ledger_merkle.root_of(b"") == hashlib.sha256(b"").digest()
    with pytest.raises(ValueError):
        ledger_merkle.root_of(b"x" * 33)


def test_floats_in_bulk() -> None:
    """A float the C path writes itself (integral, |x| < 1e16) must be orjson's text; the rest is orjson's."""
    import random
    import struct
    rnd = random.Random(7)
    floats = [struct.unpack("<d", rnd.getrandbits(64).to_bytes(8, "little"))[0] for _ in range(30_000)]
    floats += [rnd.uniform(-1e16, 1e16) for _ in range(30_000)] + [rnd.uniform(-1e-3, 1e-3) for _ in range(30_000)]
    floats += [10.0 ** k * s for k in range(-6, 18) for s in (1, -1, 0.9999999999999999, 1.0000000000000002)]
    floats += [float(rnd.randrange(-10**16, 10**16)) for _ in range(10_000)] + [float(2**53 + 2), 1e16, -1e16]
    floats += [0.0, -0.0, float("nan"), float("inf"), float("-inf"), 1735689600.0]
    rows = [(i, x) for i, x in enumerate(floats)]
    assert hash_range("facts", rows, [], 1) == hash_range_py("facts", rows, [], 1)
    assert hash_range("facts", rows, [1], 1) == hash_range_py("facts", rows, [1], 1)


def test_long_strings_with_escapes_anywhere() -> None:
    """Strings past the 16-byte blocks the C escaping scans, with the bytes orjson escapes at every offset."""
    import random
    rnd = random.Random(11)
    alphabet = ['"', "\\", "\n", "\x00", "\x1f", "\x7f", "é", "😀", "a", "b", " ", "{", "}"]
    texts = ["x" * k + c + "y" * m for k in range(0, 40) for c in ('"', "\\", "\x01", "é") for m in (0, 1, 15, 16, 17)]
    texts += ["".join(rnd.choice(alphabet) for _ in range(rnd.randrange(0, 200))) for _ in range(3000)]
    texts += ['{"path": "metrics.error_rate", "op": ">=", "value": 0.05}' * 4, "a" * 1000 + '"']
    rows = [(i, t, t[::-1]) for i, t in enumerate(texts)]
    assert hash_range("facts", rows, [], 2) == hash_range_py("facts", rows, [], 2)
    assert hash_range("facts", rows, [2], 2) == hash_range_py("facts", rows, [2], 2)
