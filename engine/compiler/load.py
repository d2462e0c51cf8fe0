"""Load rule files: bytes → safe YAML → plain data plus a source map.

Takes a directory (or files) and returns :class:`Document` objects: the parsed data,
the file's ``kind``, and a map from JSON pointer to 1-based ``(line, col)``, built by
walking PyYAML's composed node tree. Never raises for a bad file: every problem is a
:class:`~engine.model.diagnostics.Diagnostic` (too large, empty, not UTF-8, YAML syntax,
unsafe tag, alias bomb, duplicate key).

Only the YAML core schema is accepted: maps, sequences, strings, numbers, booleans and
null. ``!!python/object`` and every other explicit tag is rejected, and anchors/aliases
may expand to at most ``MAX_NODES`` nodes, so a "billion laughs" file fails fast.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from engine.model.diagnostics import Diagnostic

MAX_FILE_BYTES = 1_048_576
MAX_NODES = 100_000
MAX_DEPTH = 64  # nesting of mappings/sequences; the rule schemas need about 12 (nested all/any/not)
RULE_SUFFIXES = (".yaml", ".yml")
TEST_SUFFIXES = (".test.yaml", ".test.yml")  # engine.run.review.cases
_SAFE_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
    "tag:yaml.org,2002:timestamp",
}


@dataclass
class Document:
    path: str  # as given / relative, used in diagnostics
    data: Any
    positions: dict[str, tuple[int, int]] = field(default_factory=dict)  # pointer → (line, col) of value
    key_positions: dict[str, tuple[int, int]] = field(default_factory=dict)  # pointer → (line, col) of key
    digest: str = ""
    rel: str = ""  # relative to the rules directory ('/'-separated): what the rules hash covers, not ``path``

    @property
    def kind(self) -> str | None:
        return self.data.get("kind") if isinstance(self.data, dict) else None

    def where(self, pointer: str, *, key: bool = False) -> tuple[int, int]:
        """Best location for ``pointer``: the node itself, else its nearest ancestor."""
        table = self.key_positions if key else self.positions
        p = pointer
        while True:
            if p in table:
                return table[p]
            if p in self.positions:
                return self.positions[p]
            if not p:
                return (1, 1)
            p = p.rsplit("/", 1)[0]

    def diagnostic(self, pointer: str, code: str, message: str, *, key: bool = False, **kw: Any) -> Diagnostic:
        line, col = self.where(pointer, key=key)
        return Diagnostic(self.path, line, col, code, message, pointer=pointer, **kw)


class _TooBig(Exception):
    pass


class _Unsafe(Exception):
    def __init__(self, message: str, mark: yaml.Mark, code: str) -> None:
        super().__init__(message)
        self.mark = mark
        self.code = code


def escape(token: str) -> str:
    """RFC 6901 escaping of one reference token."""
    return token.replace("~", "~0").replace("/", "~1")


def rule_files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    # ``*.test.yaml`` files beside the rules are `rules test` cases, not policy (nor part of the rules hash)
    return sorted(p for p in root.rglob("*") if p.suffix in RULE_SUFFIXES and p.is_file()
                  and not p.name.endswith(TEST_SUFFIXES))


def load_dir(root: Path, *, display_root: Path | None = None) -> tuple[list[Document], list[Diagnostic]]:
    """Load every ``*.yaml``/``*.yml`` under ``root`` (sorted, so the order is stable)."""
    docs: list[Document] = []
    problems: list[Diagnostic] = []
    if not root.exists():
        return [], [Diagnostic(str(root), 1, 1, "no-rules", f"rules directory {root} does not exist")]
    for path in rule_files(root):
        shown = _display(path, display_root)
        doc, diags = load_bytes(path.read_bytes() if path.stat().st_size <= MAX_FILE_BYTES else None, shown,
                                size=path.stat().st_size)
        problems.extend(diags)
        if doc is not None:
            doc.rel = path.name if root.is_file() else path.relative_to(root).as_posix()
            docs.append(doc)
    return docs, problems


def _display(path: Path, root: Path | None) -> str:
    try:
        return str(path.relative_to(root)) if root else str(path)
    except ValueError:
        return str(path)


def load_bytes(data: bytes | None, name: str, *, size: int | None = None) -> tuple[Document | None, list[Diagnostic]]:
    """Parse one rule file. ``data`` is None when the file was too large to read."""
    size = len(data) if data is not None else (size or 0)
    if data is None or size > MAX_FILE_BYTES:
        return None, [Diagnostic(name, 1, 1, "file-too-large",
                                 f"file is {size} bytes; rule files are limited to {MAX_FILE_BYTES} bytes")]
    if not data.strip():
        return None, [Diagnostic(name, 1, 1, "empty-file", "file is empty; expected a YAML mapping with a 'kind'")]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        return None, [Diagnostic(name, line, col, "not-utf8",
                                 f"file is not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})")]
    try:
        node = _compose(text)
    except RecursionError:  # PyYAML's composer recurses once per level: 5,000 '[' exhaust the stack
        line, col = _too_deep_at(text)
        return None, [Diagnostic(name, line, col, "yaml-too-deep",
                                 f"YAML nests deeper than {MAX_DEPTH} levels; refusing to load")]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        return None, [Diagnostic(name, line, col, "yaml-syntax",
                                 f"invalid YAML: {' '.join(str(exc.problem or exc).split())}")]
    except yaml.reader.ReaderError as exc:  # a control character: no mark, a position in the text
        line = text.count("\n", 0, exc.position) + 1
        col = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        return None, [Diagnostic(name, line, col, "yaml-syntax",
                                 f"invalid YAML: unacceptable character #x{exc.character:04x}: {exc.reason}")]
    except yaml.YAMLError as exc:
        return None, [Diagnostic(name, 1, 1, "yaml-syntax", f"invalid YAML: {' '.join(str(exc).split())}")]
    if node is None:
        return None, [Diagnostic(name, 1, 1, "empty-file", "file has no YAML document")]
    doc = Document(name, None, digest=hashlib.sha256(data).hexdigest())
    builder = _Builder(doc)
    try:
        doc.data = builder.build(node, "")
    except _TooDeep as exc:
        return None, [Diagnostic(name, exc.mark.line + 1, exc.mark.column + 1, "yaml-too-deep",
                                 f"YAML nests deeper than {MAX_DEPTH} levels; refusing to load")]
    except _TooBig:
        return None, [Diagnostic(name, 1, 1, "yaml-alias-bomb",
                                 f"YAML expands to more than {MAX_NODES} nodes (anchors/aliases); refusing to load")]
    except _Unsafe as exc:
        return None, [Diagnostic(name, exc.mark.line + 1, exc.mark.column + 1, exc.code, str(exc))]
    if not isinstance(doc.data, dict):
        return None, [Diagnostic(name, 1, 1, "not-a-mapping", "top level must be a mapping with a 'kind' key")]
    return doc, []


def _too_deep_at(text: str) -> tuple[int, int]:
    """Where flow brackets first nest deeper than ``MAX_DEPTH`` (quotes ignored: a best effort), else 1:1."""
    depth = 0
    for i, ch in enumerate(text):
        depth += 1 if ch in "[{" else -1 if ch in "]}" else 0
        if depth > MAX_DEPTH:
            return text.count("\n", 0, i) + 1, i - (text.rfind("\n", 0, i) + 1) + 1
    return 1, 1


class _TooDeep(Exception):
    def __init__(self, mark: yaml.Mark) -> None:
        super().__init__("too deep")
        self.mark = mark


class _RulesLoader(yaml.SafeLoader):
    """SafeLoader that also reads ``1e-5`` / ``2E+3`` (an exponent without a dot) as a float, as YAML 1.2
    and JSON do; PyYAML's YAML 1.1 resolver needs a dot (``1.0e-5``) and would make it a string, so
    a threshold written ``1e-5`` failed with "is not a number"."""


_RulesLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."))


def _c_loader() -> type | None:
    """libyaml's parser with :class:`_RulesLoader`'s resolver (the same node tree, several times faster)."""
    if not getattr(yaml, "__with_libyaml__", False):
        return None
    loader = type("_CRulesLoader", (yaml.CSafeLoader,), {})
    loader.yaml_implicit_resolvers = _RulesLoader.yaml_implicit_resolvers  # type: ignore[attr-defined]
    return loader


_CRulesLoader = _c_loader()
C_MAX_NODES = 5000  # libyaml's composer recurses in C once per level and overflows the stack near 40,000


def _compose(text: str) -> yaml.Node | None:
    """The node tree of ``text``. libyaml composes a file that cannot nest deeper than :data:`C_MAX_NODES`
    and has no character PyYAML's reader rejects; anything else, and any file libyaml finds an error in,
    is composed by PyYAML's own parser (whose errors, RecursionError included, the diagnostics quote)."""
    if (_CRulesLoader is not None and _collections_bound(text) <= C_MAX_NODES
            and not yaml.reader.Reader.NON_PRINTABLE.search(text)):
        try:
            return yaml.compose(text, Loader=_CRulesLoader)
        except yaml.YAMLError:
            pass
    return yaml.compose(text, Loader=_RulesLoader)


def _collections_bound(text: str) -> int:
    """At least the number of collections in ``text``, so at least its nesting depth: each sequence or
    mapping starts at its own indicator (``[``, ``{``, ``-`` of its first entry, ``:`` or ``?`` of its first key)."""
    return sum(text.count(c) for c in "[{-:?")


class _Builder:
    """Turns a composed YAML node tree into plain data, recording positions."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.count = 0
        self.scalars = _RulesLoader("")

    def build(self, node: yaml.Node, pointer: str, depth: int = 0) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise _TooBig
        if depth > MAX_DEPTH:
            raise _TooDeep(node.start_mark)
        self.doc.positions.setdefault(pointer, (node.start_mark.line + 1, node.start_mark.column + 1))
        if node.tag not in _SAFE_TAGS:
            raise _Unsafe(f"YAML tag {node.tag!r} is not allowed; rule files use plain YAML only",
                          node.start_mark, "yaml-unsafe-tag")
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, pointer, depth)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(child, f"{pointer}/{i}", depth + 1) for i, child in enumerate(node.value)]
        if node.tag == "tag:yaml.org,2002:timestamp":
            return node.value  # keep times as text; schemas say which strings are times
        return self.scalars.construct_object(node)

    def _mapping(self, node: yaml.MappingNode, pointer: str, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise _Unsafe("YAML merge keys ('<<') are not supported", key_node.start_mark, "yaml-merge-key")
            if not isinstance(key_node, yaml.ScalarNode):
                raise _Unsafe("mapping keys must be plain scalars", key_node.start_mark, "yaml-complex-key")
            key = str(self.scalars.construct_object(key_node))
            child = f"{pointer}/{escape(key)}"
            if key in out:
                line, col = self.doc.key_positions[child]
                raise _Unsafe(f"duplicate key {key!r} (first defined at line {line})", key_node.start_mark,
                              "yaml-duplicate-key")
            self.doc.key_positions[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            out[key] = self.build(value_node, child, depth + 1)
        return out
