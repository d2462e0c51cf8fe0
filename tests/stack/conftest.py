"""A real Prometheus → Alertmanager → `rules run --listen` stack, shared by the tests of this directory."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from stack_kit import ALERTMANAGER, PROMETHEUS, Stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    missing = [b for b in (PROMETHEUS, ALERTMANAGER) if not os.access(b, os.X_OK)]
    if missing:  # a failure, not a skip: CI installs them (.ci/run), so a skip would hide a broken setup
        pytest.fail(f"{', '.join(missing)} not found: apt-get install -y --no-install-recommends prometheus "
                    "prometheus-alertmanager", pytrace=False)
    root: Path = tmp_path_factory.mktemp("stack")
    running = Stack(root)
    try:
        yield running
    finally:
        running.stop()
