"""Shared fixtures for the intake tests: the real vendor payloads in tests/fixtures/vendor/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

# tests/intake/conftest.py → parents: [0] tests/intake, [1] tests, [2] the repo, [3] its parent.
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "vendor"


@pytest.fixture
def fixture_bytes():
    def read(name: str) -> bytes:
        path = FIXTURES / name
        assert path.is_file(), f"missing fixture {path}"
        return path.read_bytes()

    return read


@pytest.fixture
def fixture_doc(fixture_bytes):
    def read(name: str) -> dict[str, Any]:
        return json.loads(fixture_bytes(name))

    return read
