"""Fixtures shared by every test directory: the HTTP server, copies of the shipped policy, an event factory."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from core_util import RULES
from intel_kit import event_dict
from pytest_httpserver import HTTPServer

from engine.compiler.compile import CompiledPolicy, compile_policy
from engine.compiler.validate import validate
from engine.model.event import Event


@pytest.fixture(scope="session")
def make_httpserver() -> Iterator[HTTPServer]:
    """Overrides pytest_httpserver's server: IPv4 loopback, and threaded so that a handler
    that sleeps (a simulated timeout) does not hold up the client's next attempt."""
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


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


@pytest.fixture
def policy_copy(tmp_path: Path) -> Callable[..., Path]:
    """``policy_copy(**{"escalation-matrix.yaml": (old, new)})``: the shipped rules with edits applied."""

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
def compiled() -> CompiledPolicy:
    policy, problems = validate(RULES)
    assert policy is not None, problems
    return compile_policy(policy)


@pytest.fixture
def make_event() -> Callable[..., Event]:
    def _make(event_id: str = "e1", timestamp: str = "2025-03-01T10:00:00Z", **fields: Any) -> Event:
        return Event.model_validate(event_dict(event_id, timestamp, **fields))

    return _make
