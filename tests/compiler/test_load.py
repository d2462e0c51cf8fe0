"""The rule-file loader: safe YAML only, clear one-line errors, exact source positions."""

from __future__ import annotations

from pathlib import Path

from engine.compiler.load import MAX_FILE_BYTES, load_bytes, load_dir


def one_error(data: bytes) -> tuple[str, int, int, str]:
    doc, diags = load_bytes(data, "r.yaml")
    assert doc is None and len(diags) == 1
    d = diags[0]
    assert "\n" not in d.text()
    return d.code, d.line, d.col, d.message


def test_alias_bomb_is_refused_fast() -> None:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 12):
        prev = chr(ord("a") + i - 1)
        cur = chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]")
    code, *_ , message = one_error("\n".join(lines).encode())
    assert code == "yaml-alias-bomb"
    assert "anchors/aliases" in message


def test_python_object_tag_is_refused_with_its_position() -> None:
    code, line, col, message = one_error(b"kind: severity\nrules: !!python/object/apply:os.system ['id']\n")
    assert code == "yaml-unsafe-tag"
    assert (line, col) == (2, 8)
    assert "python/object" in message


def test_oversized_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    with big.open("wb") as f:
        f.truncate(50 * 1024 * 1024)  # sparse 50 MB file
    docs, diags = load_dir(tmp_path)
    assert docs == []
    assert [d.code for d in diags] == ["file-too-large"]
    assert str(MAX_FILE_BYTES) in diags[0].message


def test_non_utf8_file_names_the_byte() -> None:
    code, line, col, message = one_error(b"kind: severity\ntitle: caf\xe9\n")
    assert code == "not-utf8"
    assert (line, col) == (2, 11)
    assert "0xe9" in message


def test_empty_and_whitespace_files() -> None:
    assert one_error(b"")[0] == "empty-file"
    assert one_error(b"  \n\n")[0] == "empty-file"
    assert one_error(b"# only a comment\n")[0] == "empty-file"


def test_yaml_syntax_error_position() -> None:
    code, line, col, _ = one_error(b"kind: severity\nrules:\n  - id: x\n   bad: [\n")
    assert code == "yaml-syntax"
    assert line >= 4


def test_duplicate_key_is_an_error_not_last_wins() -> None:
    code, line, col, message = one_error(b"kind: severity\nversion: 1\nkind: templates\n")
    assert code == "yaml-duplicate-key"
    assert (line, col) == (3, 1)
    assert "first defined at line 1" in message


def test_positions_are_recorded_per_pointer() -> None:
    doc, diags = load_bytes(b"kind: severity\nrules:\n  - id: a\n    when:\n      metrics.x: {gt: 1}\n", "r.yaml")
    assert not diags and doc is not None
    assert doc.where("/rules/0/id") == (3, 9)
    assert doc.where("/rules/0/when/metrics.x/gt") == (5, 23)
    assert doc.where("/rules/0/when/metrics.x", key=True) == (5, 7)
    assert doc.where("/rules/0/nothing/here") == (3, 5)  # nearest ancestor


def test_top_level_must_be_a_mapping() -> None:
    assert one_error(b"- a\n- b\n")[0] == "not-a-mapping"
