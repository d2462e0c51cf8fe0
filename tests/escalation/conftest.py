"""Fixtures for escalation tests: a copy of the shipped rules to edit, and a real threaded HTTP
server on 127.0.0.1 standing in for PagerDuty's Events API."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

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


@pytest.fixture(scope="session")
def make_httpserver() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()
