"""Fixtures for escalation tests: a copy of the shipped rules to edit (the real threaded HTTP server
on 127.0.0.1 standing in for PagerDuty's Events API is ``make_httpserver`` in tests/conftest.py)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

RULES = Path(__file__).resolve().parents[2] / "rules"


@pytest.fixture
def rules_copy(tmp_path: Path) -> Callable[..., Path]:
    """``rules_copy(**{"escalation-matrix.yaml": (old, new)})``: the shipped rules with edits applied."""

    def make(**edits: tuple[str, str]) -> Path:
        root = tmp_path / "rules"
        shutil.copytree(RULES, root, dirs_exist_ok=True)
        for name, (old, new) in edits.items():
            path = root / f"{name}.yaml"
            text = path.read_text()
            assert text.count(old) == 1, f"{old!r} not found once in {name}"
            path.write_text(text.replace(old, new))
        return root

    return make

