"""Shared fixtures for the engine core tests: a copy of the shipped policy to edit."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from core_util import RULES


@pytest.fixture
def rules_copy(tmp_path: Path) -> Path:
    dst = tmp_path / "rules"
    shutil.copytree(RULES, dst)
    return dst


@pytest.fixture
def edit(rules_copy: Path) -> Callable[[str, str, str], Path]:
    """Replace one exact snippet in one rule file of the copy (fails if the snippet is absent)."""

    def _edit(name: str, old: str, new: str) -> Path:
        path = rules_copy / name
        text = path.read_text()
        assert old in text, f"snippet not found in {name}: {old!r}"
        path.write_text(text.replace(old, new, 1))
        return path

    return _edit
