"""libyaml composes the rule files (engine/compiler/load.py ``_compose``): the same documents as PyYAML's parser,
and never a file deep enough to overflow libyaml's recursive composer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from core_util import ROOT, RULES

from engine.compiler import load

FILES = sorted([*RULES.glob("*.yaml"), *(RULES / "tests").glob("*.yaml"), *(ROOT / "tests").rglob("*.yaml")])


@pytest.mark.skipif(load._CRulesLoader is None, reason="PyYAML built without libyaml")
@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(ROOT)) for p in FILES])
def test_libyaml_and_pyyaml_give_the_same_document(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = path.read_bytes()
    fast, fast_diags = load.load_bytes(data, path.name)
    monkeypatch.setattr(load, "_CRulesLoader", None)
    slow, slow_diags = load.load_bytes(data, path.name)
    assert [d.text() for d in fast_diags] == [d.text() for d in slow_diags]
    assert (fast is None) == (slow is None)
    if fast is not None and slow is not None:
        assert fast.data == slow.data
        assert fast.positions == slow.positions and fast.key_positions == slow.key_positions


@pytest.mark.skipif(load._CRulesLoader is None, reason="PyYAML built without libyaml")
def test_libyaml_is_what_composes_a_shipped_file(monkeypatch: pytest.MonkeyPatch) -> None:
    used = []
    compose = yaml.compose
    monkeypatch.setattr(yaml, "compose", lambda text, Loader: used.append(Loader) or compose(text, Loader=Loader))
    doc, _ = load.load_bytes((RULES / "severity.yaml").read_bytes(), "severity.yaml")
    assert doc is not None and used == [load._CRulesLoader]


@pytest.mark.parametrize("text", ["[" * 60_000 + "]" * 60_000, "- " * 60_000 + "x", "a: " + "{b: " * 60_000],
                         ids=["flow-sequences", "block-sequences", "flow-mappings"])
def test_a_deep_file_is_refused_and_not_handed_to_libyaml(text: str) -> None:
    """libyaml's composer recurses in C: 40,000 levels crash the interpreter (this runs in a child for that)."""
    assert load._collections_bound(text) > load.C_MAX_NODES
    code = ("import sys; from engine.compiler.load import load_bytes; "
            "doc, d = load_bytes(sys.stdin.buffer.read(), 'deep.yaml'); print(d[0].code)")
    res = subprocess.run([sys.executable, "-c", code], input=text.encode(), capture_output=True, cwd=ROOT, timeout=120)
    assert res.returncode == 0, res.stderr.decode()[-500:]
    assert res.stdout.decode().strip() in ("yaml-too-deep", "yaml-syntax")


def test_the_bound_is_at_least_the_depth() -> None:
    for text in ("a: [b, {c: [d]}]", "- - - x", "a:\n  b:\n    c: [1]\n", "? a\n: b\n"):
        depth = 0

        def walk(node: yaml.Node, d: int) -> None:
            nonlocal depth
            depth = max(depth, d)
            for child in node.value if isinstance(node, yaml.SequenceNode) else \
                    [v for kv in node.value for v in kv] if isinstance(node, yaml.MappingNode) else []:
                walk(child, d + 1 if isinstance(child, yaml.CollectionNode) else d)

        walk(yaml.compose(text), 1)
        assert load._collections_bound(text) >= depth, text
