"""The import rules of the layers (README "Architecture"), checked over every import, function-level ones included.

Each failure names the offending import as ``file:line``. ``engine/<layer>/`` may import its own layer,
``model`` (plain data; ``engine/resources.py`` and ``actions.base``, the adapter contract, count as
model) and the layers listed in :data:`ALLOWED`; only ``durable`` imports durable-rules, only
``store`` imports sqlite3/sqlite_utils, and ``actions/`` never imports ``engine``.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

ALLOWED: dict[str, set[str]] = {  # engine layer -> the engine layers it may import besides itself and model
    "model": set(),
    "compiler": {"actions.registry"},
    "intake": set(),
    "durable": {"compiler"},  # reads the CompiledPolicy (plain data the compiler returns)
    "classifier": {"store"},  # rules train --from-audit reads operators' verdicts through store.queries
    "decide": {"compiler", "durable", "classifier"},
    "suppress": {"compiler", "durable"},
    "store": set(),
    "run": {"compiler", "intake", "durable", "decide", "suppress", "store", "classifier", "actions"},
    "report": {"store", "run"},
    "cli": {"*"},
}
ONLY_IN = {"durable_rules_engine": "durable", "durable": "durable", "sqlite3": "store", "sqlite_utils": "store"}


@dataclass(frozen=True)
class Import:
    file: Path
    line: int
    target: str


def imports(path: Path, package: str) -> list[Import]:
    """Every import in one file (relative ones resolved against ``package``), at any depth."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [Import(path, node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            # "from engine.x import y" may import the module engine.x.y: name both
            found += [Import(path, node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str:
    """``engine.decide.history`` → ``decide``; ``engine``, ``engine.resources``, ``actions.base`` → ``model``."""
    parts = module.split(".")
    if parts[0] == "actions":
        return "model" if parts[1:2] in (["base"], []) else f"actions.{parts[1]}" if len(parts) > 1 else "actions"
    if len(parts) == 1 or parts[1] in ("resources", "__init__"):
        return "model"
    return parts[1]


def violations(root: Path) -> list[str]:
    """Every import under ``root/engine`` and ``root/actions`` that breaks a rule, as ``file:line: why``."""
    out = []
    for path in sorted((root / "engine").rglob("*.py")):
        module = module_name(path, root)
        layer = layer_of(module)
        allowed = ALLOWED.get(layer, set()) | {layer, "model"}
        for imp in imports(path, module if path.name == "__init__.py" else module.rpartition(".")[0]):
            top = imp.target.split(".")[0]
            if top in ("engine", "actions"):
                target = layer_of(imp.target)
                ok = "*" in allowed or target in allowed or (target.startswith("actions") and "actions" in allowed)
                if not ok:
                    out.append(f"{_where(imp, root)}: engine/{layer}/ may not import {imp.target} ({target})")
            elif (owner := ONLY_IN.get(top)) is not None and layer != owner:
                out.append(f"{_where(imp, root)}: {imp.target}: only engine/{owner}/ may import it")
    for path in sorted((root / "actions").rglob("*.py")):
        module = module_name(path, root)
        for imp in imports(path, module.rpartition(".")[0]):
            if imp.target.split(".")[0] == "engine":
                out.append(f"{_where(imp, root)}: actions/ never imports engine ({imp.target})")
    return out


def _where(imp: Import, root: Path) -> str:
    return f"{imp.file.relative_to(root)}:{imp.line}"


def test_every_import_follows_the_layers() -> None:
    assert violations(REPO) == []


def test_every_engine_folder_is_a_known_layer() -> None:
    folders = {p.name for p in (REPO / "engine").iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert folders <= set(ALLOWED), folders - set(ALLOWED)


@pytest.mark.parametrize(("layer", "line", "why"), [
    ("store", "from engine.durable import Engine", "engine/store/ may not import engine.durable.Engine (durable)"),
    ("decide", "import sqlite3", "sqlite3: only engine/store/ may import it"),
    ("suppress", "    from durable import engine as d", "durable.engine: only engine/durable/ may import it"),
    ("model", "from engine.store.audit import Audit", "engine/model/ may not import engine.store.audit.Audit (store)"),
])
def test_a_forbidden_import_is_reported_with_its_file_and_line(tmp_path: Path, layer: str, line: str,
                                                               why: str) -> None:
    (tmp_path / "actions").mkdir()
    (tmp_path / "actions" / "base.py").write_text("import engine.model\n")  # forbidden as well
    bad = tmp_path / "engine" / layer / "bad.py"
    bad.parent.mkdir(parents=True)
    bad.write_text('"""A module with a forbidden import on line 3."""\n\n'
                   + ("def late():\n" + line if line.startswith(" ") else line) + "\n")
    lineno = 4 if line.startswith(" ") else 3
    assert violations(tmp_path) == [f"engine/{layer}/bad.py:{lineno}: {why}",
                                    "actions/base.py:1: actions/ never imports engine (engine.model)"]


def test_a_relative_import_is_resolved_before_it_is_judged(tmp_path: Path) -> None:
    (tmp_path / "actions").mkdir()
    bad = tmp_path / "engine" / "model" / "bad.py"
    bad.parent.mkdir(parents=True)
    (tmp_path / "engine" / "store").mkdir()
    bad.write_text("from ..store import audit\n")
    assert violations(tmp_path) == ["engine/model/bad.py:1: engine/model/ may not import engine.store.audit (store)"]
